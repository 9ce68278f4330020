// The on-disk form of a built dataset: a folder with
//   manifest.json            splits, counts, image sizes, mean/std (measured on train: the default
//                            preprocessing of a new model trained on the set), sources, build figures
//   <split>.jsonl            one line per image: {"id","captions":[...],"group","style","label"?,"i18n"?}
//                            (captions: English; i18n: other languages, {"ru":[...],"zh":[...]})
//   <split>.<S>px.u8         count × S × S × 3 bytes, RGB interleaved, row-major, no header
//   tokenizer.json           byte-level BPE learned on the train captions
//   LICENSES.md              the licence and attribution of every source
// Pixels are stored raw so that reading one image is one positioned read, with no decoding.
import fs from 'node:fs';
import path from 'node:path';
import type { Triple } from './augment.ts';
import type { Dataset, ItemMeta } from './dataset.ts';
import { DataError } from './errors.ts';
import type { RgbImage } from './image.ts';
import type { ImageSource } from './prep.ts';
import { DEFAULT_LANGUAGE } from './lang.ts';

export const FORMAT = 'coca-dataset';
export const FORMAT_VERSION = 1;

export interface SplitInfo {
  count: number;
  /** What the split is for, in words. */
  about: string;
}

export interface Manifest {
  format: typeof FORMAT;
  version: number;
  name: string;
  imageSizes: number[];
  splits: Record<string, SplitInfo>;
  mean: Triple;
  std: Triple;
  seed: number;
  /** Split name → class names, for classification splits. */
  classes?: Record<string, string[]>;
  /** Each package used; `pairs` counts the pictures it gave (0 for a source of names only). */
  sources: { name: string; version: string; license: string; role: 'pictures' | 'names'; pairs: number }[];
  build: { seconds: number; bytes: number; skipped: number; at: string; preset: string };
  tokenizer: { file: string; vocabSize: number };
  /** Caption languages, English first; absent in builds from before languages (English only). */
  languages?: string[];
}

export interface StoredItem extends ItemMeta {
  captions: string[];
  /** Captions in languages other than English: language → captions. */
  i18n?: Record<string, string[]>;
}

/** The caption languages of a built set (English only for one built before languages). */
export function manifestLanguages(m: Manifest): string[] {
  return m.languages ?? [DEFAULT_LANGUAGE];
}

export function imageFile(dir: string, split: string, size: number): string {
  return path.join(dir, `${split}.${size}px.u8`);
}

export function readManifest(dir: string): Manifest {
  const file = path.join(dir, 'manifest.json');
  if (!fs.existsSync(file)) throw new DataError(`${dir} holds no built dataset (no manifest.json); run 'coca data build' first`);
  const m = JSON.parse(fs.readFileSync(file, 'utf8')) as Manifest;
  if (m.format !== FORMAT || m.version !== FORMAT_VERSION) {
    throw new DataError(`${file} is not a coca dataset of format version ${FORMAT_VERSION}; rebuild it with 'coca data build'`);
  }
  return m;
}

export function readItems(dir: string, split: string): StoredItem[] {
  const file = path.join(dir, `${split}.jsonl`);
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as StoredItem);
}

/** Writes the images of one split at one size as they arrive, in item order. */
export class ImageWriter {
  private fd: number;
  constructor(
    readonly file: string,
    readonly size: number,
  ) {
    this.fd = fs.openSync(file, 'w');
  }
  write(pixels: Uint8Array, index: number): void {
    const n = this.size * this.size * 3;
    if (pixels.length !== n) throw new Error(`image of ${pixels.length} bytes, expected ${n}`);
    fs.writeSync(this.fd, pixels, 0, n, index * n);
  }
  close(): void {
    fs.closeSync(this.fd);
  }
}

export function writeItems(dir: string, split: string, items: readonly StoredItem[]): void {
  fs.writeFileSync(path.join(dir, `${split}.jsonl`), items.map((it) => JSON.stringify(it)).join('\n') + '\n');
}

/** A split of a built dataset, read image by image from its .u8 file. */
export class StoredDataset implements Dataset {
  readonly length: number;
  readonly classes?: readonly string[];
  readonly languages: readonly string[];
  private readonly fd: number;
  private readonly stored: number;
  private readonly file: string;

  constructor(
    readonly dir: string,
    readonly name: string,
    readonly split: string,
    readonly imageSize: number,
    private readonly items: StoredItem[],
    manifest: Manifest,
  ) {
    this.length = items.length;
    const classes = manifest.classes?.[split];
    if (classes) this.classes = classes;
    this.languages = manifestLanguages(manifest);
    // Read from the smallest stored size that is not smaller than asked; the loader resamples.
    const sizes = [...manifest.imageSizes].sort((a, b) => a - b);
    const stored = sizes.find((s) => s >= imageSize) ?? sizes[sizes.length - 1]!;
    this.stored = stored;
    const file = imageFile(dir, split, stored);
    this.file = file;
    if (!fs.existsSync(file)) throw new DataError(`${file} is missing; rebuild the dataset with 'coca data build'`);
    const want = items.length * stored * stored * 3;
    if (fs.statSync(file).size !== want) throw new DataError(`${file} has ${fs.statSync(file).size} bytes, expected ${want}; rebuild the dataset with 'coca data build'`);
    this.fd = fs.openSync(file, 'r');
  }

  captions(i: number): readonly string[] {
    return this.item(i).captions;
  }

  captionsIn(i: number, lang: string): readonly string[] {
    const it = this.item(i);
    return lang === DEFAULT_LANGUAGE ? it.captions : (it.i18n?.[lang] ?? []);
  }

  meta(i: number): ItemMeta {
    const { captions: _c, i18n: _t, ...meta } = this.item(i);
    return meta;
  }

  async image(i: number): Promise<RgbImage> {
    this.item(i);
    const n = this.stored * this.stored * 3;
    const data = new Uint8Array(n);
    fs.readSync(this.fd, data, 0, n, i * n);
    return { data, width: this.stored, height: this.stored };
  }

  source(i: number): ImageSource {
    this.item(i);
    return { kind: 'stored', file: this.file, index: i, side: this.stored };
  }

  close(): void {
    fs.closeSync(this.fd);
  }

  private item(i: number): StoredItem {
    const it = this.items[i];
    if (it === undefined) throw new RangeError(`item ${i} out of range 0..${this.length - 1}`);
    return it;
  }
}
