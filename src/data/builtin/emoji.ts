// Emoji in four independent art styles, all named by CLDR short names from emojibase-data, in
// English and in the locales of EMOJIBASE_LOCALES (CLDR's own translations, in the same package).
// Every style is joined on the code-point sequence with FE0F (variation selector) removed, the
// form in which the packages disagree least.
import fs from 'node:fs';
import path from 'node:path';
import { fetchNpm, type FetchOptions } from '../fetch.ts';
import { normaliseCaption } from '../text.ts';
import type { SourcePair, SourceResult } from './types.ts';

export const EMOJI_PACKAGES = {
  emojibase: { name: 'emojibase-data', version: '17.0.0' },
  google: { name: 'emoji-datasource-google', version: '16.0.0' },
  twitter: { name: 'emoji-datasource-twitter', version: '16.0.0' },
  openmoji: { name: 'openmoji', version: '17.0.0' },
  fluent: { name: '@lobehub/fluent-emoji-3d', version: '1.1.0' },
} as const;

export type EmojiStyle = 'google' | 'twitter' | 'openmoji' | 'fluent';

/** Our language → emojibase-data's locale folder, for the languages besides English. */
export const EMOJIBASE_LOCALES: Record<string, string> = { ru: 'ru', zh: 'zh', ms: 'ms' };

/** Upper-case hex code points joined by "-", without FE0F. */
export function emojiKey(hex: string): string {
  return hex
    .toUpperCase()
    .split(/[-_]/)
    .filter((c) => c !== 'FE0F' && c.length > 0)
    .join('-');
}

interface Label {
  label: string;
  base: string;
  tone: boolean;
  /** The CLDR name in other languages (language → label), where emojibase has it. */
  translations?: Record<string, string>;
}

interface EmojibaseEntry {
  label: string;
  hexcode: string;
  skins?: { label: string; hexcode: string }[];
}

/** Emoji key → English label, and each locale's label of the same code points (`locales`: language → data.json). */
export function readEmojibaseLabels(dataJson: string, locales: Record<string, string> = {}): Map<string, Label> {
  const entries = JSON.parse(fs.readFileSync(dataJson, 'utf8')) as EmojibaseEntry[];
  const labels = new Map<string, Label>();
  for (const e of entries) {
    const base = emojiKey(e.hexcode);
    labels.set(base, { label: e.label, base, tone: false });
    for (const s of e.skins ?? []) labels.set(emojiKey(s.hexcode), { label: s.label, base, tone: true });
  }
  for (const [lang, file] of Object.entries(locales)) {
    for (const e of JSON.parse(fs.readFileSync(file, 'utf8')) as EmojibaseEntry[]) {
      for (const v of [e, ...(e.skins ?? [])]) {
        const l = labels.get(emojiKey(v.hexcode));
        if (l && v.label) l.translations = { ...l.translations, [lang]: v.label };
      }
    }
  }
  return labels;
}

interface OpenmojiEntry {
  hexcode: string;
  annotation: string;
  skintone: string;
  skintone_base_hexcode: string;
}

interface DatasourceEntry {
  unified: string;
  image: string;
  skin_variations?: Record<string, { unified: string; image: string }>;
}

/** The emoji of `styles` with their English names, and their names in those of `languages` emojibase has. */
export async function emojiSources(styles: readonly EmojiStyle[], opts: FetchOptions, languages: readonly string[] = ['en']): Promise<SourceResult> {
  const P = EMOJI_PACKAGES;
  // Every locale is fetched whatever the build's languages, so one cache serves every preset.
  const folders = ['en', ...Object.values(EMOJIBASE_LOCALES)];
  const base = await fetchNpm(P.emojibase.name, P.emojibase.version, folders.map((l) => `package/${l}/data.json`), opts);
  const locales = Object.fromEntries(Object.entries(EMOJIBASE_LOCALES).filter(([lang]) => languages.includes(lang)).map(([lang, dir]) => [lang, path.join(base, dir, 'data.json')]));
  const labels = readEmojibaseLabels(path.join(base, 'en', 'data.json'), locales);
  const pairs: SourcePair[] = [];
  const info: SourceResult['info'] = [
    { ...P.emojibase, role: 'names', license: 'MIT', attribution: 'Emoji names and tags: emojibase-data (Miles Johnson), from Unicode CLDR.' },
  ];
  const push = (style: string, key: string, file: string, fallback?: Label) => {
    const l = labels.get(key) ?? fallback;
    if (!l || !fs.existsSync(file)) return;
    const pair: SourcePair = { id: `${style}/${key.toLowerCase()}`, style, caption: normaliseCaption(l.label), link: `emoji:${l.base}`, tone: l.tone, image: { path: file } };
    if (l.translations) pair.translations = Object.fromEntries(Object.entries(l.translations).map(([lang, t]) => [lang, normaliseCaption(t)]));
    pairs.push(pair);
  };

  // OpenMoji is read first: its annotations name the ~500 emoji that emojibase does not know.
  if (styles.includes('openmoji') || styles.includes('fluent')) {
    const om = await fetchNpm(P.openmoji.name, P.openmoji.version, ['package/data/openmoji.json', 'package/color/svg/*'], opts);
    const entries = JSON.parse(fs.readFileSync(path.join(om, 'data', 'openmoji.json'), 'utf8')) as OpenmojiEntry[];
    for (const e of entries) {
      const key = emojiKey(e.hexcode);
      const own: Label = { label: e.annotation, base: emojiKey(e.skintone_base_hexcode || e.hexcode), tone: e.skintone !== '' };
      if (!labels.has(key) && e.annotation) labels.set(key, own);
      if (styles.includes('openmoji')) push('openmoji', key, path.join(om, 'color', 'svg', `${e.hexcode}.svg`), own);
    }
    if (styles.includes('openmoji')) {
      info.push({ ...P.openmoji, role: 'pictures', license: 'CC-BY-SA-4.0', attribution: 'OpenMoji – the open-source emoji and icon project (openmoji.org), CC BY-SA 4.0.' });
    }
  }
  for (const style of ['google', 'twitter'] as const) {
    if (!styles.includes(style)) continue;
    const pkg = P[style];
    const dir = await fetchNpm(pkg.name, pkg.version, ['package/emoji.json', `package/img/${style}/64/*`], opts);
    const entries = JSON.parse(fs.readFileSync(path.join(dir, 'emoji.json'), 'utf8')) as DatasourceEntry[];
    for (const e of entries) {
      for (const v of [e, ...Object.values(e.skin_variations ?? {})]) {
        push(style, emojiKey(v.unified), path.join(dir, 'img', style, '64', v.image));
      }
    }
    info.push({
      ...pkg,
      role: 'pictures',
      license: style === 'google' ? 'Apache-2.0' : 'CC-BY-4.0',
      attribution: style === 'google' ? 'Noto Emoji art © Google, Apache License 2.0 (via emoji-datasource-google).' : 'Twemoji art © Twitter, Inc. and other contributors, CC BY 4.0 (via emoji-datasource-twitter).',
    });
  }
  if (styles.includes('fluent')) {
    const dir = await fetchNpm(P.fluent.name, P.fluent.version, ['package/assets/*'], opts);
    for (const f of fs.readdirSync(path.join(dir, 'assets')).sort()) {
      if (f.endsWith('.webp')) push('fluent', emojiKey(f.slice(0, -5)), path.join(dir, 'assets', f));
    }
    info.push({ ...P.fluent, role: 'pictures', license: 'MIT', attribution: 'Fluent Emoji 3D © Microsoft Corporation, MIT License (via @lobehub/fluent-emoji-3d).' });
  }
  return { pairs, info };
}
