// Small datasets made on the spot for the data tests: real PNG/JPEG files written with sharp,
// caption files in each supported format, and an in-memory Dataset.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { WHITE, type ImagePreprocess } from '../../../src/data/preprocess.ts';
import type { Dataset, ItemMeta } from '../../../src/data/dataset.ts';
import type { RgbImage } from '../../../src/data/image.ts';

export function tempDir(prefix = 'coca-data-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A w×h picture whose pixel (x, y) is (x*7+seed, y*11+seed, (x+y)*3) mod 256. */
export function patternPixels(w: number, h: number, seed = 0): Uint8Array {
  const px = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const o = (y * w + x) * 3;
      px[o] = (x * 7 + seed) % 256;
      px[o + 1] = (y * 11 + seed) % 256;
      px[o + 2] = ((x + y) * 3) % 256;
    }
  return px;
}

export async function writeImage(file: string, w: number, h: number, seed = 0): Promise<void> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const img = sharp(Buffer.from(patternPixels(w, h, seed)), { raw: { width: w, height: h, channels: 3 } });
  if (file.endsWith('.jpg')) await img.jpeg().toFile(file);
  else if (file.endsWith('.webp')) await img.webp({ lossless: true }).toFile(file);
  else await img.png().toFile(file);
}

/** Bytes that no decoder accepts, under an image name. */
export function writeCorrupt(file: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, Buffer.from('this is not an image at all, just text pretending'));
}

/** A model's preprocessing at `size` px with round statistics, for loader tests. */
export function testPreprocess(size: number, resizeMode: ImagePreprocess['resizeMode'] = 'longest'): ImagePreprocess {
  return { size, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25], interpolation: 'bilinear', resizeMode, background: WHITE };
}

/** An in-memory dataset of n items, image i a constant-colour square, captions "item i". */
export class MemoryDataset implements Dataset {
  readonly name = 'memory';
  readonly split = 'train';
  constructor(
    readonly length: number,
    readonly imageSize = 8,
    private readonly bad = new Set<number>(),
    private readonly perItem = 1,
  ) {}
  captions(i: number): readonly string[] {
    return Array.from({ length: this.perItem }, (_, k) => `item ${i} caption ${k}`);
  }
  meta(i: number): ItemMeta {
    return { id: `m${i}` };
  }
  async image(i: number): Promise<RgbImage> {
    if (this.bad.has(i)) {
      const { DataError } = await import('../../../src/data/errors.ts');
      throw new DataError(`cannot decode image m${i}`);
    }
    const s = this.imageSize;
    return { data: patternPixels(s, s, i), width: s, height: s };
  }
  close(): void {}
}

/** A built dataset folder (manifest, items, 16 px pixels) of n pattern pictures, split 'train'. */
export async function writeStoredFixture(dir: string, n: number, size = 16): Promise<void> {
  const { FORMAT, FORMAT_VERSION, ImageWriter, imageFile, writeItems } = await import('../../../src/data/store.ts');
  fs.mkdirSync(dir, { recursive: true });
  const w = new ImageWriter(imageFile(dir, 'train', size), size);
  for (let i = 0; i < n; i++) w.write(patternPixels(size, size, i * 13), i);
  w.close();
  writeItems(
    dir,
    'train',
    Array.from({ length: n }, (_, i) => ({ id: `p${i}`, captions: [`picture ${i}`, `pattern number ${i}`] })),
  );
  const manifest = {
    format: FORMAT,
    version: FORMAT_VERSION,
    name: 'fixture',
    imageSizes: [size],
    splits: { train: { count: n, about: 'fixture' } },
    mean: [0.5, 0.4, 0.3],
    std: [0.2, 0.2, 0.2],
    seed: 0,
    sources: [],
    build: { seconds: 0, bytes: 0, skipped: 0, at: '', preset: 'fixture' },
    tokenizer: { file: 'tokenizer.json', vocabSize: 0 },
  };
  fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(manifest));
}
