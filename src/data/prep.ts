// One item's image, from where it is stored to the model's float32 CHW input: the same function
// runs on the loader's thread and in worker threads, so both give identical tensors.
import fs from 'node:fs';
import { fullCrop, randomCrop, toTensor, type AugmentConfig, type Triple } from './augment.ts';
import type { RgbImage } from './image.ts';
import { loadShorterSide, loadSquare } from './image.ts';
import { Rng } from './rng.ts';

/** Where an item's picture is, in a form a worker thread can open by itself. */
export type ImageSource =
  | { kind: 'stored'; file: string; index: number; side: number }
  | { kind: 'file'; path: string; size: number; trainDecode: number };

export interface PrepTask {
  source: ImageSource;
  train: boolean;
  /** Seed of the crop and flip draws. */
  seed: number;
  /** The caption chosen for this row names a side, so the picture must not be mirrored. */
  noFlip: boolean;
  augment: AugmentConfig;
  size: number;
  mean: Triple;
  std: Triple;
}

const fds = new Map<string, number>();

/** Reads or decodes the picture a source names. */
export async function readSource(src: ImageSource, train: boolean): Promise<RgbImage> {
  if (src.kind === 'stored') {
    let fd = fds.get(src.file);
    if (fd === undefined) fds.set(src.file, (fd = fs.openSync(src.file, 'r')));
    const n = src.side * src.side * 3;
    const data = new Uint8Array(n);
    fs.readSync(fd, data, 0, n, src.index * n);
    return { data, width: src.side, height: src.side };
  }
  if (train) return loadShorterSide({ path: src.path }, src.trainDecode);
  return { data: await loadSquare({ path: src.path }, src.size, 'cover'), width: src.size, height: src.size };
}

/** Crop (train) or whole image (eval), resampled and normalised into `out` at `offset`. */
export function tensorise(image: RgbImage, task: Omit<PrepTask, 'source'>, out: Float32Array, offset: number): void {
  const crop = task.train ? randomCrop(image, task.augment, new Rng(task.seed)) : fullCrop(image);
  if (task.noFlip) crop.flip = false;
  toTensor(image, crop, task.size, task.mean, task.std, out, offset);
}
