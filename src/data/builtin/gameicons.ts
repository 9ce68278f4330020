// game-icons.net silhouettes: SVG path bodies in one Iconify JSON, named by slugs that read as short
// phrases ("sitting dog", "axe in stump").
import fs from 'node:fs';
import path from 'node:path';
import { fetchNpm, type FetchOptions } from '../fetch.ts';
import { normaliseCaption } from '../text.ts';
import type { SourcePair, SourceResult } from './types.ts';

const PKG = { name: '@iconify-json/game-icons', version: '1.2.4' };

interface IconifyJson {
  width?: number;
  height?: number;
  icons: Record<string, { body: string; width?: number; height?: number }>;
}

export async function gameIconsSource(opts: FetchOptions): Promise<SourceResult> {
  const dir = await fetchNpm(PKG.name, PKG.version, ['package/icons.json', 'package/info.json'], opts);
  const set = JSON.parse(fs.readFileSync(path.join(dir, 'icons.json'), 'utf8')) as IconifyJson;
  const pairs: SourcePair[] = [];
  for (const [slug, icon] of Object.entries(set.icons).sort(([a], [b]) => (a < b ? -1 : 1))) {
    const w = icon.width ?? set.width ?? 512;
    const h = icon.height ?? set.height ?? 512;
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" color="#000">${icon.body}</svg>`;
    const id = `game-icons/${slug}`;
    pairs.push({ id, style: 'game-icons', caption: normaliseCaption(slug.replace(/-/g, ' ')), link: id, tone: false, image: { svg } });
  }
  return {
    pairs,
    info: [{ ...PKG, role: 'pictures', license: 'CC-BY-3.0', attribution: 'Icons by Lorc, Delapouite and contributors at game-icons.net, CC BY 3.0 (via @iconify-json/game-icons).' }],
  };
}
