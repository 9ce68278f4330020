// Colour jitter, random greyscale and Gaussian blur, drawn per picture after its crop and flip
// (SimCLR's order: crop, flip, colour jitter, greyscale, blur), for a model that must recognise an
// art style it never trained on: shading, palette and sharpness differ between styles, the
// object does not. They work on the resampled picture as three planes of [0, 1] values, before
// the model's normalisation, with torchvision's formulas (ColorJitter, RandomGrayscale,
// GaussianBlur on float tensors), so each has a hand-checkable meaning.
import type { Rng } from './rng.ts';
import { permutation } from './rng.ts';

export interface PhotometricConfig {
  /**
   * Colour jitter with probability `p`: brightness, contrast and saturation factors each drawn
   * uniformly from [max(0, 1 − strength), 1 + strength], applied in a random order (torchvision's).
   */
  colour?: { strength: number; p: number };
  /** Greyscale (ITU-R 601 luma in all three channels) with this probability. */
  grey?: number;
  /** Gaussian blur with probability `p`, its sigma drawn uniformly in [0.1, blurSigmaMax(size)] output pixels. */
  blur?: { p: number };
}

/** torchvision's rgb_to_grayscale weights. */
const LUMA = [0.2989, 0.587, 0.114] as const;

/**
 * SimCLR blurs 224-pixel inputs with sigma up to 2 pixels; scaled to a small model's input that
 * would be a fraction of a pixel (invisible at 32), so the ceiling never falls below 1 pixel.
 */
export function blurSigmaMax(size: number): number {
  return Math.max(1, (2 * size) / 224);
}

/** What one picture gets, drawn from `rng` (after its crop's draws). */
export interface PhotometricDraw {
  /** Jitter ops in the order applied, each with its factor. */
  jitter: { op: 'brightness' | 'contrast' | 'saturation'; factor: number }[];
  grey: boolean;
  /** Blur sigma in output pixels, or 0 for none. */
  sigma: number;
}

const JITTER_OPS = ['brightness', 'contrast', 'saturation'] as const;

/** The draws of one picture; none are taken for a transform that is off, so off draws nothing. */
export function drawPhotometric(cfg: PhotometricConfig, size: number, rng: Rng): PhotometricDraw {
  const d: PhotometricDraw = { jitter: [], grey: false, sigma: 0 };
  if (cfg.colour && rng.next() < cfg.colour.p) {
    const s = cfg.colour.strength;
    const order = permutation(3, rng);
    // Factors drawn in the order applied, as torchvision's get_params after its randperm.
    for (const k of order) d.jitter.push({ op: JITTER_OPS[k]!, factor: rng.uniform(Math.max(0, 1 - s), 1 + s) });
  }
  if (cfg.grey !== undefined && rng.next() < cfg.grey) d.grey = true;
  if (cfg.blur && rng.next() < cfg.blur.p) d.sigma = rng.uniform(0.1, blurSigmaMax(size));
  return d;
}

export function isPhotometricOn(cfg: PhotometricConfig): boolean {
  return cfg.colour !== undefined || cfg.grey !== undefined || cfg.blur !== undefined;
}

const clamp01 = (x: number) => (x < 0 ? 0 : x > 1 ? 1 : x);

/**
 * Applies a draw in place to `x` at `offset`: three planes (R, G, B) of size×size values in [0, 1].
 */
export function applyPhotometric(x: Float32Array, offset: number, size: number, d: PhotometricDraw): void {
  for (const j of d.jitter) {
    if (j.op === 'brightness') blend(x, offset, size, j.factor, () => 0);
    else if (j.op === 'contrast') {
      const mean = meanLuma(x, offset, size);
      blend(x, offset, size, j.factor, () => mean);
    } else {
      const grey = lumaPlane(x, offset, size);
      blend(x, offset, size, j.factor, (i) => grey[i]!);
    }
  }
  if (d.grey) {
    const grey = lumaPlane(x, offset, size);
    for (let c = 0; c < 3; c++) x.set(grey, offset + c * size * size);
  }
  if (d.sigma > 0) gaussianBlur(x, offset, size, d.sigma);
}

/** torchvision's _blend: clamp(f·x + (1 − f)·other), `other` per pixel index. */
function blend(x: Float32Array, offset: number, size: number, f: number, other: (i: number) => number): void {
  const plane = size * size;
  for (let c = 0; c < 3; c++) {
    const base = offset + c * plane;
    for (let i = 0; i < plane; i++) x[base + i] = clamp01(f * x[base + i]! + (1 - f) * other(i));
  }
}

function lumaPlane(x: Float32Array, offset: number, size: number): Float32Array {
  const plane = size * size;
  const out = new Float32Array(plane);
  for (let i = 0; i < plane; i++) out[i] = LUMA[0] * x[offset + i]! + LUMA[1] * x[offset + plane + i]! + LUMA[2] * x[offset + 2 * plane + i]!;
  return out;
}

function meanLuma(x: Float32Array, offset: number, size: number): number {
  const grey = lumaPlane(x, offset, size);
  let s = 0;
  for (let i = 0; i < grey.length; i++) s += grey[i]!;
  return s / grey.length;
}

/** The index `i` maps to in 0..n-1 under mirror padding without repeating the edge (torch's "reflect"), any distance out. */
export function reflectIndex(i: number, n: number): number {
  if (n === 1) return 0;
  const period = 2 * (n - 1);
  const k = ((i % period) + period) % period;
  return k < n ? k : period - k;
}

/** Normalised 1-D Gaussian taps for offsets −r..r, r = ceil(3σ). */
export function gaussianTaps(sigma: number): Float64Array {
  const r = Math.ceil(3 * sigma);
  const taps = new Float64Array(2 * r + 1);
  let sum = 0;
  for (let k = -r; k <= r; k++) sum += taps[k + r] = Math.exp(-(k * k) / (2 * sigma * sigma));
  for (let k = 0; k < taps.length; k++) taps[k]! /= sum;
  return taps;
}

/** Separable Gaussian blur of each plane, rows then columns, reflect padding. */
export function gaussianBlur(x: Float32Array, offset: number, size: number, sigma: number): void {
  const taps = gaussianTaps(sigma);
  const r = (taps.length - 1) / 2;
  const idx = Int32Array.from({ length: size + 2 * r }, (_, k) => reflectIndex(k - r, size));
  const tmp = new Float64Array(size * size);
  for (let c = 0; c < 3; c++) {
    const base = offset + c * size * size;
    for (let v = 0; v < size; v++) {
      for (let u = 0; u < size; u++) {
        let s = 0;
        for (let k = 0; k < taps.length; k++) s += taps[k]! * x[base + v * size + idx[u + k]!]!;
        tmp[v * size + u] = s;
      }
    }
    for (let v = 0; v < size; v++) {
      for (let u = 0; u < size; u++) {
        let s = 0;
        for (let k = 0; k < taps.length; k++) s += taps[k]! * tmp[idx[v + k]! * size + u]!;
        x[base + v * size + u] = s;
      }
    }
  }
}
