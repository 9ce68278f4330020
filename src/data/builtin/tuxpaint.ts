// Tux Paint's stamps: clip-art and photo cut-outs, each described by an English sentence in the
// first line of a .txt beside it (the other lines are translations).
import fs from 'node:fs';
import path from 'node:path';
import { fetchDeb, type FetchOptions } from '../fetch.ts';
import { normaliseCaption } from '../text.ts';
import type { SourcePair, SourceResult } from './types.ts';

const STAMPS = 'usr/share/tuxpaint/stamps';

export async function tuxpaintSource(opts: FetchOptions): Promise<SourceResult> {
  const root = await fetchDeb('tuxpaint-stamps-default', STAMPS, ['*.png', '*.svg', '*.txt', '*/copyright'], opts);
  const pairs: SourcePair[] = [];
  for (const txt of walk(path.join(root, STAMPS)).filter((f) => f.endsWith('.txt')).sort()) {
    const stem = txt.slice(0, -4);
    // The SVG is the original drawing where both exist; the PNG is its rendering.
    const image = [`${stem}.svg`, `${stem}.png`].find((f) => fs.existsSync(f));
    const caption = normaliseCaption(fs.readFileSync(txt, 'utf8').split('\n')[0] ?? '');
    if (!image || !caption) continue;
    const id = `tuxpaint/${path.relative(path.join(root, STAMPS), stem)}`;
    pairs.push({ id, style: 'tuxpaint', caption, link: id, tone: false, image: { path: image } });
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
