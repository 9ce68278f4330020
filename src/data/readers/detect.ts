// Which reader a path needs, judged by what is there.
import fs from 'node:fs';
import path from 'node:path';
import { DataError } from '../errors.ts';
import { isCoco, isKarpathy } from './coco.ts';
import { readJson } from './common.ts';

export type Format = 'captions-tsv' | 'captions-jsonl' | 'coco' | 'karpathy' | 'flickr8k' | 'cc-tsv';

export interface Detected {
  format: Format;
  file: string;
}

const IMAGE_EXT = /\.(jpe?g|png|webp|gif|svg|avif|tiff?|bmp)$/i;

export const KNOWN_FORMATS =
  'a folder with captions.tsv or captions.jsonl, a COCO captions_*.json, a Karpathy dataset_*.json, Flickr8k.token.txt, or a caption<TAB>path .tsv';

export function detectFormat(p: string): Detected {
  const stat = fs.statSync(p);
  if (stat.isDirectory()) {
    const names = fs.readdirSync(p);
    const pick = (test: (n: string) => boolean) => names.filter(test).sort()[0];
    const found =
      pick((n) => n === 'captions.tsv') ??
      pick((n) => n === 'captions.jsonl') ??
      pick((n) => /^dataset_\w+\.json$/.test(n)) ??
      pick((n) => n === 'Flickr8k.token.txt') ??
      pick((n) => /^captions_\w+\.json$/.test(n));
    const inAnnotations = !found && fs.existsSync(path.join(p, 'annotations')) ? fs.readdirSync(path.join(p, 'annotations')).filter((n) => /^captions_\w+\.json$/.test(n)).sort()[0] : undefined;
    if (found) return detectFormat(path.join(p, found));
    if (inAnnotations) return detectFormat(path.join(p, 'annotations', inAnnotations));
    const tsv = pick((n) => n.endsWith('.tsv'));
    if (tsv) return detectFormat(path.join(p, tsv));
    throw new DataError(`no dataset recognised in ${p}; expected ${KNOWN_FORMATS}`);
  }
  const base = path.basename(p);
  if (base === 'captions.jsonl' || base.endsWith('.jsonl')) return { format: 'captions-jsonl', file: p };
  if (base.endsWith('.json')) {
    const j = readJson<unknown>(p);
    if (isKarpathy(j)) return { format: 'karpathy', file: p };
    if (isCoco(j)) return { format: 'coco', file: p };
    throw new DataError(`${p} is neither a COCO caption file nor a Karpathy split file; expected ${KNOWN_FORMATS}`);
  }
  if (/token\.txt$/i.test(base)) return { format: 'flickr8k', file: p };
  if (base.endsWith('.tsv') || base.endsWith('.txt')) return { format: tsvKind(p), file: p };
  throw new DataError(`unknown dataset format for ${p}; expected ${KNOWN_FORMATS}`);
}

/** `image<TAB>caption` or `caption<TAB>image`: whichever side of the first data line names an image. */
function tsvKind(file: string): Format {
  const fd = fs.openSync(file, 'r');
  const head = Buffer.alloc(8192);
  const n = fs.readSync(fd, head, 0, head.length, 0);
  fs.closeSync(fd);
  const lines = head.subarray(0, n).toString('utf8').split('\n').filter((l) => l.includes('\t'));
  for (const line of lines.slice(0, 5)) {
    const [a, b] = [line.slice(0, line.indexOf('\t')).trim(), line.slice(line.lastIndexOf('\t') + 1).trim()];
    if (IMAGE_EXT.test(a) && !IMAGE_EXT.test(b)) return 'captions-tsv';
    if (IMAGE_EXT.test(b) || /^https?:\/\//.test(b)) return 'cc-tsv';
  }
  if (path.basename(file) === 'captions.tsv') return 'captions-tsv';
  throw new DataError(`${file}: no line names an image file on either side of a tab; expected ${KNOWN_FORMATS}`);
}
