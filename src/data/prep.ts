// One item's image, from where it is stored to the model's float32 CHW input: the same function
// runs on the loader's thread and in worker threads, so both give identical tensors.
import fs from 'node:fs';
import { fullCrop, tensorise, toTensor, type CropTask } from './augment.ts';
import type { RgbImage } from './image.ts';
import { decodePicture } from './image.ts';
import type { ImagePreprocess } from './preprocess.ts';

/** Where an item's picture is, in a form a worker thread can open by itself. */
export type ImageSource = { kind: 'stored'; file: string; index: number; side: number } | { kind: 'file'; path: string } | { kind: 'bytes'; bytes: Uint8Array; name: string };

/** Pictures in shards are decoded up to this many pixels: a bomb in a downloaded shard stops at the header. */
export const SHARD_MAX_PIXELS = 64 * 2 ** 20;

export interface PrepTask extends CropTask {
  source: ImageSource;
}

// Browser-safe (augment.ts); kept importable from here, where the loaders found it.
export { tensorise };

const fds = new Map<string, number>();

/**
 * Reads or decodes the picture a source names: a built dataset's stored raster as it is (square,
 * made when the set was built), an image file as the model's preprocessing prepares it.
 */
export async function readSource(src: ImageSource, train: boolean, pre: ImagePreprocess): Promise<RgbImage> {
  if (src.kind === 'stored') {
    let fd = fds.get(src.file);
    if (fd === undefined) fds.set(src.file, (fd = fs.openSync(src.file, 'r')));
    const n = src.side * src.side * 3;
    const data = new Uint8Array(n);
    fs.readSync(fd, data, 0, n, src.index * n);
    return { data, width: src.side, height: src.side };
  }
  if (src.kind === 'bytes') return decodePicture({ bytes: Buffer.from(src.bytes.buffer, src.bytes.byteOffset, src.bytes.byteLength), maxPixels: SHARD_MAX_PIXELS, name: src.name }, pre, train);
  return decodePicture({ path: src.path }, pre, train);
}

/** A prepared picture (readSource, evaluation) as the model's input, into `out` at `offset`. */
export function toModelInput(image: RgbImage, pre: ImagePreprocess, out: Float32Array, offset: number): void {
  toTensor(image, fullCrop(image), pre.size, pre.mean, pre.std, out, offset);
}
