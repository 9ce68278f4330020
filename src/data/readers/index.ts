// Users' datasets: detect the format, read the records, check the images, pick the split.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { DataError } from '../errors.ts';
import { loadSquare } from '../image.ts';
import { mapLimit } from '../pool.ts';
import { hashString } from '../rng.ts';
import { readCaptionUrlTsv } from './cc.ts';
import { readCoco, readKarpathy } from './coco.ts';
import { mergeRecords, Problems, type RawRecord, type ReadOptions } from './common.ts';
import { detectFormat, type Format } from './detect.ts';
import { FileDataset } from './files.ts';
import { readFlickrTokens } from './flickr.ts';
import { readCaptionsJsonl, readCaptionsTsv } from './folder.ts';

export type { ReadOptions } from './common.ts';
export { detectFormat, KNOWN_FORMATS } from './detect.ts';

export interface ReadResult {
  format: Format;
  file: string;
  /** The folder the caption file is in: splits hash image paths relative to it. */
  root: string;
  records: RawRecord[];
  problems: Problems;
}

/** All usable records of a user dataset (every split), with what was skipped. */
export async function readUserDataset(p: string, opts: ReadOptions = {}): Promise<ReadResult> {
  const { format, file } = detectFormat(p);
  const problems = new Problems(file, opts.strict ?? false);
  const raw = readRaw(format, file, problems);
  if (raw.length === 0 && problems.total === 0) throw new DataError(`${file} holds no image–caption pairs; add some, or point --data at another dataset`);
  const merged = mergeRecords(raw, problems);
  const present = merged.filter((r) => {
    const ok = fs.existsSync(r.image);
    if (!ok) problems.add('missing images', r.image);
    return ok;
  });
  if (merged.length > 0 && present.length === 0) {
    throw new DataError(`none of the ${merged.length} images named in ${file} exist (first: ${merged[0]!.image}); check where the image files are`);
  }
  const records = await verify(present, opts.verify ?? 'header', problems);
  const note = problems.summary();
  if (note) (opts.warn ?? ((l: string) => console.warn(`coca: ${l}`)))(note);
  if (records.length === 0) throw new DataError(`no usable image–caption pairs in ${file} (${problems.total} entries skipped); see the warning above`);
  return { format, file, root: path.dirname(file), records, problems };
}

function readRaw(format: Format, file: string, problems: Problems): RawRecord[] {
  switch (format) {
    case 'captions-tsv':
      return readCaptionsTsv(file, problems);
    case 'captions-jsonl':
      return readCaptionsJsonl(file, problems);
    case 'coco':
      return readCoco(file);
    case 'karpathy':
      return readKarpathy(file);
    case 'flickr8k':
      return readFlickrTokens(file, problems);
    case 'cc-tsv':
      return readCaptionUrlTsv(file, problems);
  }
}

async function verify(records: RawRecord[], how: 'none' | 'header' | 'full', problems: Problems): Promise<RawRecord[]> {
  if (how === 'none') return records;
  const ok = await mapLimit(records.length, os.availableParallelism() * 2, async (i) => {
    const file = records[i]!.image;
    try {
      if (how === 'full') await loadSquare({ path: file }, 8, 'cover');
      else {
        const m = await sharp(file).metadata();
        if (!m.width || !m.height) throw new Error('no size');
      }
      return true;
    } catch {
      return false;
    }
  });
  // Counted after the parallel checks so that the order of the reported paths is the file's.
  return records.filter((r, i) => {
    if (!ok[i]) problems.add('corrupt or unreadable images', r.image);
    return ok[i];
  });
}

/**
 * The split of a record: the format's own, else 90/5/5 by a seeded hash of the image path
 * relative to `root` (the dataset's folder), so the same dataset splits the same wherever it lies.
 */
export function splitOf(r: RawRecord, seed: number, root: string): string {
  if (r.split) return r.split;
  const rel = path.relative(root, r.image).split(path.sep).join('/');
  const h = hashString(rel, seed) / 2 ** 32;
  return h < 0.9 ? 'train' : h < 0.95 ? 'val' : 'test';
}

export async function openUserDataset(p: string, opts: ReadOptions & { split: string; imageSize: number }): Promise<FileDataset> {
  const { records, root } = await readUserDataset(p, opts);
  const seed = opts.seed ?? 0;
  const chosen = opts.split === 'all' ? records : records.filter((r) => splitOf(r, seed, root) === opts.split);
  if (chosen.length === 0) {
    const have = [...new Set(records.map((r) => splitOf(r, seed, root)))].sort().join(', ');
    throw new DataError(`${p} has no items in split '${opts.split}' (it has ${have}, and 'all')`);
  }
  return new FileDataset(path.basename(p), opts.split, opts.imageSize, chosen);
}
