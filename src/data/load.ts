// Opening a dataset by name or path: the built-in sets by name, a built coca dataset folder by
// its manifest, anything else through the readers of users' formats.
import fs from 'node:fs';
import path from 'node:path';
import type { Triple } from './augment.ts';
import type { Dataset } from './dataset.ts';
import { DataError } from './errors.ts';
import { builtinDir } from './paths.ts';
import { openUserDataset, type ReadOptions } from './readers/index.ts';
import { openShardDataset, readShardsInfo } from './readers/shard-dataset.ts';
import { besideShards, isShardSpec, resolveShards } from './readers/webdataset.ts';
import { readItems, readManifest, StoredDataset } from './store.ts';
import { Tokenizer } from './tokenizer.ts';

export interface LoadOptions extends ReadOptions {
  split: string;
  /** Side the pictures are wanted at (default: the smallest stored size, or 64). */
  imageSize?: number;
}

/** 'builtin' | 'builtin-small' | a path → the folder or file it names; WebDataset shards as given. */
export function resolveDataPath(where: string): string {
  if (where === 'builtin' || where === 'builtin-small') {
    const dir = builtinDir(where === 'builtin-small');
    if (!fs.existsSync(path.join(dir, 'manifest.json'))) {
      throw new DataError(`the ${where} dataset is not built yet; run 'coca data build${where === 'builtin-small' ? ' --small' : ''}' (it fetches the art packages into ${path.dirname(path.dirname(dir))})`);
    }
    return dir;
  }
  if (isShardData(where)) return where;
  const p = path.resolve(where);
  if (!fs.existsSync(p)) throw new DataError(`dataset path ${where} does not exist; pass a folder or caption file, or 'builtin'`);
  return p;
}

/**
 * Whether --data names WebDataset shards (a .tar, a brace pattern, a list file, URLs, a folder of
 * shards). Local shards must exist: a mistyped name is told as such, not read as an empty stream.
 */
export function isShardData(where: string): boolean {
  if (where === 'builtin' || where === 'builtin-small' || !isShardSpec(where)) return false;
  const local = resolveShards(where).all.filter((s) => !/^https?:\/\//i.test(s));
  const missing = local.find((s) => !fs.existsSync(s));
  if (missing) throw new DataError(`shard ${missing} does not exist${local.length > 1 ? ` (one of the ${local.length} shards ${where} names)` : ''}; check the path or pattern`);
  return true;
}

export function isBuiltDataset(p: string): boolean {
  return fs.existsSync(path.join(p, 'manifest.json'));
}

export async function loadDataset(where: string, opts: LoadOptions): Promise<Dataset> {
  const p = resolveDataPath(where);
  if (isShardData(where)) return openShardDataset(where, { ...opts, imageSize: opts.imageSize ?? 64 });
  if (isBuiltDataset(p)) {
    const m = readManifest(p);
    if (!(opts.split in m.splits)) throw new DataError(`${m.name} has no split '${opts.split}'; it has ${Object.keys(m.splits).join(', ')}`);
    return new StoredDataset(p, m.name, opts.split, opts.imageSize ?? Math.min(...m.imageSizes), readItems(p, opts.split), m);
  }
  return openUserDataset(p, { ...opts, imageSize: opts.imageSize ?? 64 });
}

/**
 * The per-channel statistics measured on a built dataset's train split (its manifest), or
 * undefined for users' datasets: what a new model trained on it records unless told otherwise.
 */
export function measuredStats(where: string): { mean: Triple; std: Triple } | undefined {
  const p = resolveDataPath(where);
  if (isShardData(where)) {
    const info = readShardsInfo(where);
    return info?.mean && info.std ? { mean: info.mean, std: info.std } : undefined;
  }
  if (!isBuiltDataset(p)) return undefined;
  const m = readManifest(p);
  return { mean: m.mean, std: m.std };
}

/** The split names a dataset offers. */
export function listSplits(where: string): string[] {
  const p = resolveDataPath(where);
  if (isShardData(where)) {
    const { splits } = resolveShards(where);
    return splits ? [...Object.keys(splits), 'all'] : ['train', 'all'];
  }
  if (isBuiltDataset(p)) return Object.keys(readManifest(p).splits);
  return ['train', 'val', 'test', 'all'];
}

/** The tokenizer stored with a built dataset. */
export function loadTokenizer(where: string): Tokenizer {
  const p = resolveDataPath(where);
  if (isShardData(where)) {
    const file = besideShards(where, 'tokenizer.json');
    if (!file) throw new DataError(`no tokenizer.json beside the shards of ${where} (nor one folder up); put one there (coca data tokenizer --data ${where} --out <folder>/tokenizer.json), or for shards over http list their URLs in a file next to a tokenizer.json`);
    return Tokenizer.load(file);
  }
  const file = fs.statSync(p).isDirectory() ? path.join(p, 'tokenizer.json') : p;
  if (!fs.existsSync(file)) throw new DataError(`no tokenizer.json at ${file}; for your own data run 'coca data tokenizer --data ${where}' first`);
  return Tokenizer.load(file);
}
