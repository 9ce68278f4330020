// Pillow's bicubic resize (Image.resize(size, Image.BICUBIC)), the resampler open_clip's
// preprocessing runs through torchvision on PIL images, written out as Pillow's
// libImaging/Resample.c computes it: a separable convolution with the a = −0.5 cubic kernel whose
// support widens with the scale when shrinking (antialiasing), weights in 22-bit fixed point,
// horizontal pass first into an 8-bit image, then the vertical pass, each value rounded and
// clamped to 0..255. So a picture reaches an imported open_clip model as it reaches open_clip.
import type { RgbImage } from './image.ts';

const PRECISION_BITS = 32 - 8 - 2;
const ONE = 2 ** PRECISION_BITS;
const SUPPORT = 2;

function bicubic(x: number): number {
  const a = -0.5;
  if (x < 0) x = -x;
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

interface Coeffs {
  ksize: number;
  /** Per output pixel: first input pixel and how many are used. */
  bounds: Int32Array;
  /** Fixed-point weights, ksize per output pixel. */
  kk: Int32Array;
}

/** Pillow's precompute_coeffs + normalize_coeffs_8bpc for inSize → outSize over the whole axis. */
function coeffs(inSize: number, outSize: number): Coeffs {
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1);
  const support = SUPPORT * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const kk = new Int32Array(outSize * ksize);
  const k = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const ss = 1 / filterscale;
    const xmin = Math.max(0, Math.trunc(center - support + 0.5));
    const xmax = Math.min(inSize, Math.trunc(center + support + 0.5)) - xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      k[x] = bicubic((x + xmin - center + 0.5) * ss);
      ww += k[x]!;
    }
    for (let x = 0; x < xmax; x++) {
      const w = ww !== 0 ? k[x]! / ww : k[x]!;
      kk[xx * ksize + x] = w < 0 ? Math.trunc(-0.5 + w * ONE) : Math.trunc(0.5 + w * ONE);
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  return { ksize, bounds, kk };
}

const clip8 = (ss: number) => Math.min(255, Math.max(0, Math.floor(ss / ONE)));

/** One pass along x (horizontal) or y of an interleaved RGB image. */
function pass(src: Uint8Array, w: number, h: number, out: number, horizontal: boolean): Uint8Array {
  const c = coeffs(horizontal ? w : h, out);
  const ow = horizontal ? out : w;
  const oh = horizontal ? h : out;
  const dst = new Uint8Array(ow * oh * 3);
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      const i = horizontal ? x : y;
      const xmin = c.bounds[i * 2]!;
      const xmax = c.bounds[i * 2 + 1]!;
      const kb = i * c.ksize;
      let s0 = ONE / 2;
      let s1 = ONE / 2;
      let s2 = ONE / 2;
      for (let t = 0; t < xmax; t++) {
        const at = (horizontal ? y * w + xmin + t : (xmin + t) * w + x) * 3;
        const kv = c.kk[kb + t]!;
        s0 += src[at]! * kv;
        s1 += src[at + 1]! * kv;
        s2 += src[at + 2]! * kv;
      }
      const o = (y * ow + x) * 3;
      dst[o] = clip8(s0);
      dst[o + 1] = clip8(s1);
      dst[o + 2] = clip8(s2);
    }
  }
  return dst;
}

/** Pillow's img.resize((width, height), Image.BICUBIC) of an RGB image. */
export function resizeBicubic(img: RgbImage, width: number, height: number): RgbImage {
  let data = img.data;
  let w = img.width;
  if (width !== img.width) {
    data = pass(data, w, img.height, width, true);
    w = width;
  }
  if (height !== img.height) data = pass(data, w, img.height, height, false);
  return { data: data === img.data ? Uint8Array.from(data) : data, width, height };
}

/**
 * torchvision's Resize(size) (shorter side to `size`, the longer truncated as it computes it) then
 * CenterCrop(size) (offsets rounded half to even, as Python's round), on Pillow's bicubic: open_clip's
 * eval transform for resize_mode "shortest".
 */
export function resizeShortestCrop(img: RgbImage, size: number): RgbImage {
  const { width: w, height: h } = img;
  const [short, long] = w <= h ? [w, h] : [h, w];
  const newLong = Math.trunc((size * long) / short);
  const [nw, nh] = w <= h ? [size, newLong] : [newLong, size];
  const r = nw === w && nh === h ? img : resizeBicubic(img, nw, nh);
  const top = roundHalfEven((nh - size) / 2);
  const left = roundHalfEven((nw - size) / 2);
  const out = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++) out.set(r.data.subarray(((top + y) * nw + left) * 3, ((top + y) * nw + left + size) * 3), y * size * 3);
  return { data: out, width: size, height: size };
}

function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}
