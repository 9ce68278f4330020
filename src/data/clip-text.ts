// open_clip's text clean-up before CLIP's BPE ("lower": whitespace_clean(basic_clean(x)).lower()),
// the part a Hugging Face tokenizer.json cannot say: ftfy.fix_text and html.unescape twice. The
// tables come from those libraries (src/data/clip/text-tables.json, written by
// scripts/reference/clip_tokenizer.py), so only the control flow is written here.
//
// Not ported: ftfy's mojibake repair (fix_encoding: text that was UTF-8 read as Latin-1 or
// Windows-1252, e.g. "cafÃ©"), a statistical guess of its own; such text is tokenized as it is.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

interface TextTables {
  html5: Record<string, string>;
  invalid_charrefs: Record<string, string>;
  invalid_codepoints: number[];
  ftfy_entities_extra: Record<string, string>;
  ligatures: Record<string, string>;
  width: Record<string, string>;
  control: number[];
  c1: Record<string, string>;
}

export const CLIP_ASSETS = path.join(path.dirname(fileURLToPath(import.meta.url)), 'clip');

interface Prepared {
  t: TextTables;
  invalid: Set<number>;
  /** ftfy's entity map: every html5 name ending in ';' with its '&', plus upper-cased forms. */
  ftfyEntities: Map<string, string>;
  control: Set<number>;
}

let prepared: Prepared | null = null;

function tables(): Prepared {
  if (prepared) return prepared;
  const t = JSON.parse(fs.readFileSync(path.join(CLIP_ASSETS, 'text-tables.json'), 'utf8')) as TextTables;
  const ftfyEntities = new Map<string, string>();
  for (const [k, v] of Object.entries(t.html5)) if (k.endsWith(';')) ftfyEntities.set(`&${k}`, v);
  for (const [k, v] of Object.entries(t.ftfy_entities_extra)) ftfyEntities.set(k, v);
  prepared = { t, invalid: new Set(t.invalid_codepoints), ftfyEntities, control: new Set(t.control) };
  return prepared;
}

function mapChars(s: string, table: Record<string, string>): string {
  let out = '';
  for (const ch of s) out += table[ch.codePointAt(0)!] ?? ch;
  return out;
}

// Python's html.unescape, the same regular expression and rules.
const CHARREF = /&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)/gu;

/** Python's html.unescape. */
export function htmlUnescape(s: string): string {
  if (!s.includes('&')) return s;
  const { t, invalid } = tables();
  return s.replace(CHARREF, (_m, ref: string) => {
    if (ref[0] === '#') {
      const hex = ref[1] === 'x' || ref[1] === 'X';
      const digits = ref.slice(hex ? 2 : 1).replace(/;$/, '');
      const num = hex ? parseInt(digits, 16) : Number(digits);
      if (String(num) in t.invalid_charrefs && Number.isSafeInteger(num)) return t.invalid_charrefs[String(num)]!;
      if ((num >= 0xd800 && num <= 0xdfff) || num > 0x10ffff) return '\ufffd';
      if (invalid.has(num)) return '';
      return String.fromCodePoint(num);
    }
    if (ref in t.html5) return t.html5[ref]!;
    // The longest name that is a prefix (only the legacy names without ';' can be).
    const chars = [...ref];
    for (let x = chars.length - 1; x > 1; x--) {
      const head = chars.slice(0, x).join('');
      if (head in t.html5) return t.html5[head]! + chars.slice(x).join('');
    }
    return `&${ref}`;
  });
}

const FTFY_ENTITY = /&#?[0-9A-Za-z]{1,24};/g;

function ftfyUnescape(s: string): string {
  const { ftfyEntities } = tables();
  return s.replace(FTFY_ENTITY, (m) => {
    const e = ftfyEntities.get(m);
    if (e !== undefined) return e;
    if (m.startsWith('&#')) {
      const u = htmlUnescape(m);
      return u.includes(';') ? m : u;
    }
    return m;
  });
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const ANSI = /\x1b\[((?:\d|;)*)([a-zA-Z])/g;

function fixSegment(text: string, unescape: boolean): string {
  const { t, control } = tables();
  for (;;) {
    const orig = text;
    if (unescape) text = ftfyUnescape(text);
    text = text.replace(/[\x80-\x9f]/g, (c) => t.c1[c.charCodeAt(0)] ?? c);
    text = mapChars(text, t.ligatures);
    text = mapChars(text, t.width);
    text = text.replace(/[\u201c-\u201f]/g, '"').replace(/[\u02bc\u2018-\u201b]/g, "'");
    text = text.replaceAll('\r\n', '\n').replaceAll('\r', '\n').replaceAll('\u2028', '\n').replaceAll('\u2029', '\n').replaceAll('\u0085', '\n');
    text = text.replace(LONE_SURROGATE, '\ufffd');
    text = text.replace(ANSI, '');
    let kept = '';
    for (const ch of text) if (!control.has(ch.codePointAt(0)!)) kept += ch;
    text = kept.normalize('NFC');
    if (text === orig) return text;
  }
}

/** ftfy.fix_text with its defaults, less the mojibake repair: line by line, HTML unescaped until a line holds '<'. */
export function ftfyFixText(text: string): string {
  let out = '';
  let unescape = true;
  for (let pos = 0; pos < text.length; ) {
    const nl = text.indexOf('\n', pos);
    const end = nl < 0 ? text.length : nl + 1;
    const segment = text.slice(pos, end);
    if (segment.includes('<')) unescape = false;
    out += fixSegment(segment, unescape);
    pos = end;
  }
  return out;
}

// Python's str.split() with no argument splits on these (str.isspace), which differ from JS's \s.
const PY_SPACE = /[\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/u;

/** Python's `" ".join(s.split())`. */
function pySplitJoin(s: string): string {
  return s
    .split(PY_SPACE)
    .filter((w) => w.length > 0)
    .join(' ');
}

/** open_clip's clean='lower': whitespace_clean(basic_clean(text)).lower(). */
export function clipClean(text: string): string {
  // basic_clean's strip() is subsumed by the split.
  return pySplitJoin(htmlUnescape(htmlUnescape(ftfyFixText(text)))).toLowerCase();
}
