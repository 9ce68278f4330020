// Tux Paint's stamps: clip-art and photo cut-outs, each described by an English sentence in the
// first line of a .txt beside it; the other lines are the project's translations ("ru.utf8=…").
import fs from 'node:fs';
import path from 'node:path';
import { fetchDeb, type FetchOptions } from '../fetch.ts';
import { normaliseCaption } from '../text.ts';
import type { SourcePair, SourceResult } from './types.ts';

const STAMPS = 'usr/share/tuxpaint/stamps';

/** Our language → the locale of Tux Paint's translation lines (Chinese: the simplified zh_CN). */
export const TUXPAINT_LOCALES: Record<string, string> = { ru: 'ru', zh: 'zh_CN', ms: 'ms' };

/** The English description (first line) and the translations of `languages` found in a stamp's .txt. */
export function readStampText(text: string, languages: readonly string[]): { caption: string; translations: Record<string, string> } {
  const lines = text.split('\n');
  const translations: Record<string, string> = {};
  for (const lang of languages) {
    const locale = TUXPAINT_LOCALES[lang];
    const line = locale && lines.find((l) => l.startsWith(`${locale}.utf8=`));
    const t = line ? normaliseCaption(line.slice(locale.length + 6)) : '';
    if (t) translations[lang] = t;
  }
  return { caption: normaliseCaption(lines[0] ?? ''), translations };
}

export async function tuxpaintSource(opts: FetchOptions, languages: readonly string[] = ['en']): Promise<SourceResult> {
  const root = await fetchDeb('tuxpaint-stamps-default', STAMPS, ['*.png', '*.svg', '*.txt', '*/copyright'], opts);
  const pairs: SourcePair[] = [];
  for (const txt of walk(path.join(root, STAMPS)).filter((f) => f.endsWith('.txt')).sort()) {
    const stem = txt.slice(0, -4);
    // The SVG is the original drawing where both exist; the PNG is its rendering.
    const image = [`${stem}.svg`, `${stem}.png`].find((f) => fs.existsSync(f));
    const { caption, translations } = readStampText(fs.readFileSync(txt, 'utf8'), languages);
    if (!image || !caption) continue;
    const id = `tuxpaint/${path.relative(path.join(root, STAMPS), stem)}`;
    const pair: SourcePair = { id, style: 'tuxpaint', caption, link: id, tone: false, image: { path: image } };
    if (Object.keys(translations).length > 0) pair.translations = translations;
    pairs.push(pair);
  }
  return {
    pairs,
    info: [{ role: 'pictures', name: 'tuxpaint-stamps-default', version: 'Debian bookworm', license: 'GPL-2.0', attribution: 'Tux Paint stamps © the Tux Paint project and contributors, GNU GPL 2 (Debian package tuxpaint-stamps-default).' }],
  };
}

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p));
    else out.push(p);
  }
  return out;
}
