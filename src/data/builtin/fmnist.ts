// Fashion-MNIST's test split (Debian's dataset-fashion-mnist) as a zero-shot classification set.
// Pictures are inverted to dark-on-white so they share the built-in set's white background.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { DataError } from '../errors.ts';
import { fetchDeb, type FetchOptions } from '../fetch.ts';
import type { SourceInfo } from './types.ts';

const DIR = 'usr/share/datasets/fashion-mnist';

export const FMNIST_CLASSES = ['t-shirt/top', 'trouser', 'pullover', 'dress', 'coat', 'sandal', 'shirt', 'sneaker', 'bag', 'ankle boot'];

export interface GrayImages {
  count: number;
  width: number;
  height: number;
  pixels: Uint8Array;
  labels: Uint8Array;
}

/** Reads an idx3 image file and its idx1 label file (gzip or plain). */
export function readIdx(imagesFile: string, labelsFile: string): GrayImages {
  const load = (f: string) => {
    const raw = fs.readFileSync(f);
    return f.endsWith('.gz') ? zlib.gunzipSync(raw) : raw;
  };
  const img = load(imagesFile);
  const lab = load(labelsFile);
  if (img.readUInt32BE(0) !== 0x803 || lab.readUInt32BE(0) !== 0x801) throw new DataError(`${imagesFile} or ${labelsFile} is not an idx file`);
  const count = img.readUInt32BE(4);
  const height = img.readUInt32BE(8);
  const width = img.readUInt32BE(12);
  if (lab.readUInt32BE(4) !== count) throw new DataError(`${labelsFile} has ${lab.readUInt32BE(4)} labels for ${count} images`);
  return { count, width, height, pixels: new Uint8Array(img.subarray(16, 16 + count * width * height)), labels: new Uint8Array(lab.subarray(8, 8 + count)) };
}

export async function fmnistTest(opts: FetchOptions): Promise<{ images: GrayImages; info: SourceInfo }> {
  const root = await fetchDeb('dataset-fashion-mnist', DIR, ['*t10k-*', '*/copyright'], opts);
  const images = readIdx(path.join(root, DIR, 't10k-images-idx3-ubyte.gz'), path.join(root, DIR, 't10k-labels-idx1-ubyte.gz'));
  for (let i = 0; i < images.pixels.length; i++) images.pixels[i] = 255 - images.pixels[i]!;
  return {
    images,
    info: { role: 'pictures', name: 'dataset-fashion-mnist', version: 'Debian bookworm', license: 'MIT', attribution: 'Fashion-MNIST © Zalando SE, MIT License (Debian package dataset-fashion-mnist).' },
  };
}
