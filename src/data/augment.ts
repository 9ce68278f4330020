// From an 8-bit RGB image to the model's input: a float32 CHW tensor, normalised per channel.
// Training draws a random resized crop (area share and aspect ratio, as in Inception/CLIP) and a
// horizontal flip; evaluation uses the whole (already centre-cropped) image. Resampling is
// bilinear through one affine map from output to source pixel centres.
import { mat2d, vec2 } from 'gl-matrix';
import type { RgbImage } from './image.ts';
import type { Rng } from './rng.ts';

export type Triple = readonly [number, number, number];

/** CLIP's statistics, used for users' photo datasets unless configured otherwise. */
export const CLIP_MEAN: Triple = [0.48145466, 0.4578275, 0.40821073];
export const CLIP_STD: Triple = [0.26862954, 0.26130258, 0.27577711];

export interface AugmentConfig {
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
  const { data, width, height } = img;
  const plane = size * size;
  const scale = [1 / (255 * std[0]), 1 / (255 * std[1]), 1 / (255 * std[2])] as const;
  const bias = [-mean[0] / std[0], -mean[1] / std[1], -mean[2] / std[2]] as const;
  const p = vec2.create();
  for (let v = 0; v < size; v++) {
    for (let u = 0; u < size; u++) {
      vec2.transformMat2d(p, [u + 0.5, v + 0.5], m);
      const sx = Math.min(Math.max(p[0], 0), width - 1);
      const sy = Math.min(Math.max(p[1], 0), height - 1);
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      const x1 = Math.min(x0 + 1, width - 1);
      const y1 = Math.min(y0 + 1, height - 1);
      const fx = sx - x0;
      const fy = sy - y0;
      const i00 = (y0 * width + x0) * 3;
      const i01 = (y0 * width + x1) * 3;
      const i10 = (y1 * width + x0) * 3;
      const i11 = (y1 * width + x1) * 3;
      const o = offset + v * size + u;
      for (let c = 0; c < 3; c++) {
        const top = data[i00 + c]! + (data[i01 + c]! - data[i00 + c]!) * fx;
        const bot = data[i10 + c]! + (data[i11 + c]! - data[i10 + c]!) * fx;
        out[o + c * plane] = (top + (bot - top) * fy) * scale[c]! + bias[c]!;
      }
    }
  }
}
