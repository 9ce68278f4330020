// Flickr8k's Flickr8k.token.txt (`image.jpg#n<TAB>caption`), with its split lists
// (Flickr_8k.trainImages.txt, .devImages.txt, .testImages.txt) when they are beside it.
import fs from 'node:fs';
import path from 'node:path';
import { Problems, readLines, type RawRecord } from './common.ts';

const IMAGE_DIRS = ['Flicker8k_Dataset', 'Flickr8k_Dataset', 'Images', 'images', '.'];

export function readFlickrTokens(file: string, problems: Problems): RawRecord[] {
  const dir = path.dirname(file);
  const roots = IMAGE_DIRS.flatMap((d) => [path.join(dir, d), path.join(path.dirname(dir), d)]);
  const splitOf = new Map<string, string>();
  for (const [name, split] of [['trainImages', 'train'], ['devImages', 'val'], ['testImages', 'test']] as const) {
    const f = path.join(dir, `Flickr_8k.${name}.txt`);
    if (fs.existsSync(f)) for (const { line } of readLines(f, problems)) splitOf.set(line.trim(), split);
  }
  const lines = readLines(file, problems);
  const firstName = lines[0]?.line.split('\t')[0]?.trim().replace(/#\d+$/, '');
  const root = roots.find((r) => firstName !== undefined && fs.existsSync(path.join(r, firstName))) ?? roots[0]!;
  const out: RawRecord[] = [];
  for (const { line, no } of lines) {
    const tab = line.indexOf('\t');
    if (tab < 0) {
      problems.add('lines without a tab', `${file}:${no}`);
      continue;
    }
    const name = line.slice(0, tab).trim().replace(/#\d+$/, '');
    const split = splitOf.get(name);
    out.push({ image: path.join(root, name), captions: [line.slice(tab + 1)], ...(split ? { split } : {}) });
  }
  return out;
}
