// From an 8-bit RGB image to the model's input: a float32 CHW tensor, normalised per channel.
// Training draws a random resized crop (area share and aspect ratio, as in Inception/CLIP) and a
// horizontal flip; evaluation uses the whole (already centre-cropped) image. Resampling is
// bilinear through one affine map from output to source pixel centres. Colour jitter, greyscale
// and blur (photometric.ts) are off unless asked for (`coca train --augment`).
import { mat2d, vec2 } from 'gl-matrix';
import type { RgbImage } from './image.ts';
import type { ImagePreprocess } from './preprocess.ts';
import { Rng } from './rng.ts';
import { applyPhotometric, drawPhotometric, isPhotometricOn, type PhotometricConfig } from './photometric.ts';

export type Triple = readonly [number, number, number];

/** CLIP's statistics, used for users' photo datasets unless configured otherwise. */
export const CLIP_MEAN: Triple = [0.48145466, 0.4578275, 0.40821073];
export const CLIP_STD: Triple = [0.26862954, 0.26130258, 0.27577711];

export interface AugmentConfig extends PhotometricConfig {
  /** Range of the crop's area as a share of the image. */
  scale: readonly [number, number];
  /** Range of the crop's width/height ratio (drawn log-uniformly). */
  ratio: readonly [number, number];
  /** Flip left-right with probability 1/2. Off for data with text or handed symbols. */
  flip: boolean;
}

// Milder than ImageNet's (0.08, 1): the built-in pictures are single centred objects, and a crop
// of 8% of an emoji usually shows no object at all.
export const DEFAULT_AUGMENT: AugmentConfig = { scale: [0.5, 1], ratio: [3 / 4, 4 / 3], flip: true };

export interface Crop {
  x: number;
  y: number;
  w: number;
  h: number;
  flip: boolean;
}

export function fullCrop(img: RgbImage): Crop {
  return { x: 0, y: 0, w: img.width, h: img.height, flip: false };
}

/** A crop drawn as torchvision's RandomResizedCrop does, falling back to the whole image. */
export function randomCrop(img: RgbImage, cfg: AugmentConfig, rng: Rng): Crop {
  const area = img.width * img.height;
  const flip = cfg.flip && rng.next() < 0.5;
  const [lr0, lr1] = [Math.log(cfg.ratio[0]), Math.log(cfg.ratio[1])];
  for (let attempt = 0; attempt < 10; attempt++) {
    const target = area * rng.uniform(cfg.scale[0], cfg.scale[1]);
    const ratio = Math.exp(rng.uniform(lr0, lr1));
    const w = Math.sqrt(target * ratio);
    const h = Math.sqrt(target / ratio);
    if (w <= img.width && h <= img.height) {
      return { x: rng.uniform(0, img.width - w), y: rng.uniform(0, img.height - h), w, h, flip };
    }
  }
  return { ...fullCrop(img), flip };
}

/**
 * Writes the crop of `img`, resampled to size×size, into `out` at `offset` as 3 planes
 * (R, G, B), each value (v/255 - mean) / std.
 */
export function toTensor(img: RgbImage, crop: Crop, size: number, mean: Triple, std: Triple, out: Float32Array, offset = 0): void {
  // Output pixel centre (u+0.5, v+0.5) → source pixel-centre coordinates.
  const m = mat2d.create();
  mat2d.translate(m, m, [crop.x - 0.5, crop.y - 0.5]);
  mat2d.scale(m, m, [crop.w / size, crop.h / size]);
  if (crop.flip) {
    mat2d.translate(m, m, [size, 0]);
    mat2d.scale(m, m, [-1, 1]);
  }
  // Crops and flips keep axes aligned, so source x depends only on u and y only on v: one
  // table per axis replaces a matrix product per pixel.
  const { data, width, height } = img;
  const p = vec2.create();
  const x0s = new Int32Array(size);
  const x1s = new Int32Array(size);
  const fxs = new Float32Array(size);
  const y0s = new Int32Array(size);
  const y1s = new Int32Array(size);
  const fys = new Float32Array(size);
  for (let k = 0; k < size; k++) {
    vec2.transformMat2d(p, [k + 0.5, k + 0.5], m);
    const sx = Math.min(Math.max(p[0], 0), width - 1);
    const sy = Math.min(Math.max(p[1], 0), height - 1);
    x0s[k] = Math.floor(sx);
    x1s[k] = Math.min(x0s[k]! + 1, width - 1);
    fxs[k] = sx - x0s[k]!;
    y0s[k] = Math.floor(sy);
    y1s[k] = Math.min(y0s[k]! + 1, height - 1);
    fys[k] = sy - y0s[k]!;
  }
  const plane = size * size;
  for (let c = 0; c < 3; c++) {
    const scale = 1 / (255 * std[c]!);
    const bias = -mean[c]! / std[c]!;
    const base = offset + c * plane;
    for (let v = 0; v < size; v++) {
      const r0 = y0s[v]! * width;
      const r1 = y1s[v]! * width;
      const fy = fys[v]!;
      const o = base + v * size;
      for (let u = 0; u < size; u++) {
        const a = x0s[u]! * 3 + c;
        const b = x1s[u]! * 3 + c;
        const fx = fxs[u]!;
        const p00 = data[r0 * 3 + a]!;
        const p01 = data[r0 * 3 + b]!;
        const p10 = data[r1 * 3 + a]!;
        const p11 = data[r1 * 3 + b]!;
        const top = p00 + (p01 - p00) * fx;
        const bot = p10 + (p11 - p10) * fx;
        out[o + u] = (top + (bot - top) * fy) * scale + bias;
      }
    }
  }
}

/** How one row's picture becomes the model's input: its crop and flip draws and the model's preprocessing. */
export interface CropTask {
  train: boolean;
  /** Seed of the crop and flip draws. */
  seed: number;
  /** The caption chosen for this row names a side, so the picture must not be mirrored. */
  noFlip: boolean;
  augment: AugmentConfig;
  /** The model's preprocessing: size, resize mode, background, mean and std. */
  pre: ImagePreprocess;
}

const UNIT: Triple = [0, 0, 0];
const ONE: Triple = [1, 1, 1];

/**
 * Crop (train) or whole image (eval), resampled and normalised into `out` at `offset`. With
 * photometric transforms, the crop is resampled to [0, 1] values, transformed, then normalised;
 * their draws follow the crop's from the same generator, so the crops are those of a run without.
 */
export function tensorise(image: RgbImage, task: CropTask, out: Float32Array, offset: number): void {
  const rng = new Rng(task.seed);
  const crop = task.train ? randomCrop(image, task.augment, rng) : fullCrop(image);
  if (task.noFlip) crop.flip = false;
  const { size, mean, std } = task.pre;
  if (!task.train || !isPhotometricOn(task.augment)) {
    toTensor(image, crop, size, mean, std, out, offset);
    return;
  }
  toTensor(image, crop, size, UNIT, ONE, out, offset);
  applyPhotometric(out, offset, size, drawPhotometric(task.augment, size, rng));
  const plane = size * size;
  for (let c = 0; c < 3; c++) {
    const base = offset + c * plane;
    for (let i = 0; i < plane; i++) out[base + i] = (out[base + i]! - mean[c]!) / std[c]!;
  }
}
