// A split of WebDataset shards held in memory as encoded pictures and captions: what evaluation,
// retrieval indexes and `coca data` need (random access, a length). Training never builds this;
// it streams the shards (shard-loader.ts).
import fs from 'node:fs';
import path from 'node:path';
import type { Triple } from '../augment.ts';
import type { Dataset, ItemMeta } from '../dataset.ts';
import { DataError } from '../errors.ts';
import { decodePicture, loadSquare, type RgbImage } from '../image.ts';
import { SHARD_MAX_PIXELS, type ImageSource } from '../prep.ts';
import { defaultPreprocess } from '../preprocess.ts';
import { Problems, type ReadOptions } from './common.ts';
import { DEFAULT_LANGUAGE } from '../lang.ts';
import { besideShards, pairTranslations, readAllPairs, shardHome, shardsOfSplit, type ShardPair } from './webdataset.ts';

/** What `coca data shards` records beside the shards (shards.json): counts, classes, the source's statistics. */
export interface ShardsInfo {
  format: 'coca-shards';
  source: string;
  splits: Record<string, { samples: number; shards: number; classes?: string[] }>;
  mean?: Triple;
  std?: Triple;
}

export const SHARDS_INFO = 'shards.json';

/** shards.json beside the shards of a local argument, if there is one. */
export function readShardsInfo(where: string): ShardsInfo | undefined {
  const file = besideShards(where, SHARDS_INFO);
  if (!file) return undefined;
  try {
    const j = JSON.parse(fs.readFileSync(file, 'utf8')) as ShardsInfo;
    return j.format === 'coca-shards' ? j : undefined;
  } catch {
    return undefined;
  }
}

export class ShardDataset implements Dataset {
  readonly length: number;
  readonly classes?: readonly string[];
  /** English first, then every other language some pair has captions in (absent: English only). */
  readonly languages?: readonly string[];
  private readonly translations: Record<string, string[]>[];

  constructor(
    readonly name: string,
    readonly split: string,
    readonly imageSize: number,
    private readonly pairs: ShardPair[],
    classes?: readonly string[],
  ) {
    this.length = pairs.length;
    if (classes) this.classes = classes;
    this.translations = pairs.map(pairTranslations);
    const others = [...new Set(this.translations.flatMap((t) => Object.keys(t)))].filter((l) => l !== DEFAULT_LANGUAGE).sort();
    if (others.length > 0) this.languages = [DEFAULT_LANGUAGE, ...others];
  }

  captions(i: number): readonly string[] {
    return this.pair(i).captions;
  }

  captionsIn(i: number, lang: string): readonly string[] {
    const p = this.pair(i);
    return lang === DEFAULT_LANGUAGE ? p.captions : (this.translations[i]![lang] ?? []);
  }

  meta(i: number): ItemMeta {
    const p = this.pair(i);
    const j = p.json ?? {};
    const meta: ItemMeta = { id: `${p.shard}:${p.key}` };
    if (typeof j.style === 'string') meta.style = j.style;
    if (typeof j.group === 'string') meta.group = j.group;
    if (typeof j.label === 'number') meta.label = j.label;
    return meta;
  }

  async image(i: number, mode: 'train' | 'eval'): Promise<RgbImage> {
    const p = this.pair(i);
    const input = { bytes: p.image.bytes, maxPixels: SHARD_MAX_PIXELS, name: `${p.shard}:${p.key}.${p.image.ext}` };
    if (mode === 'train') return decodePicture(input, defaultPreprocess(this.imageSize), true);
    return { data: await loadSquare(input, this.imageSize, 'cover'), width: this.imageSize, height: this.imageSize };
  }

  source(i: number): ImageSource {
    const p = this.pair(i);
    return { kind: 'bytes', bytes: p.image.bytes, name: `${p.shard}:${p.key}.${p.image.ext}` };
  }

  close(): void {}

  private pair(i: number): ShardPair {
    const p = this.pairs[i];
    if (!p) throw new RangeError(`item ${i} out of range 0..${this.length - 1}`);
    return p;
  }
}

export interface ShardOpenOptions extends ReadOptions {
  split: string;
  imageSize: number;
}

/** Reads a split of shards whole; skipped samples are counted in one warning (or stop with strict). */
export async function openShardDataset(where: string, o: ShardOpenOptions): Promise<ShardDataset> {
  const shards = shardsOfSplit(where, o.split);
  if (shards.length === 0) throw new DataError(`${where} names no shards; check the pattern or list`);
  const problems = new Problems(where, o.strict ?? false);
  const warn = o.warn ?? ((l: string) => console.warn(`coca: ${l}`));
  const pairs = await readAllPairs(shards, problems, { captionField: o.captionField, warn });
  const note = problems.summary();
  if (note) warn(note);
  if (pairs.length === 0) throw new DataError(`no usable image–caption pairs in the ${shards.length} shard${shards.length > 1 ? 's' : ''} of ${where} split ${o.split}; see the warnings above`);
  const classes = readShardsInfo(where)?.splits[o.split]?.classes;
  return new ShardDataset(path.basename(shardHome(where)), o.split, o.imageSize, pairs, classes);
}
