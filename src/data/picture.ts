// What happens to a decoded picture before the model's resampler, written once for both decoders
// (sharp in Node: image.ts; the browser's createImageBitmap: image-web.ts): made square as the
// preprocessing says (`shortest`: centre crop, `longest`: padded with the background, or for an
// imported open_clip model resized and then padded with its fill colour), scaled for
// training, or reduced first where it is far larger than the model's side. Only the reduction is
// the decoder's own (libvips or the browser's canvas), passed in as `reduce`.
import type { Triple } from './augment.ts';
import type { RgbImage } from './image.ts';
import type { ImagePreprocess } from './preprocess.ts';
import { resizeBicubic, resizeShortestCrop } from './resample.ts';

/** Scales an image to width×height (antialiased where it shrinks). */
export type Reduce = (img: RgbImage, width: number, height: number) => Promise<RgbImage>;

// Above this many times the model's side a picture is first reduced by the decoder (antialiased)
// to twice the side; below it the one resampler of the model's preprocessing (toTensor) does all
// the scaling, so a picture stored at 2× or 4× the model's size (the built-in set's rasters, or
// them exported as PNG files) reaches the model exactly as the built-in path gives it.
const RESAMPLE_ALONE = 4;

// Training crops keep about 70% of the side at the smallest scale; decoding at 1.5× the model's
// side keeps those crops at full resolution.
export const TRAIN_DECODE_SCALE = 1.5;

/**
 * A decoded picture (transparency already flattened on `pre.background`) prepared as the model's
 * preprocessing says, before resampling: for evaluation made square (`shortest`: centre crop,
 * `longest`: padded with the background, `squash`: left as it is, the resampler squashes it); for
 * training padded only for `longest` (random crops do the rest) and scaled so that its shorter
 * side is 1.5× the model's side.
 */
export async function preparePicture(decoded: RgbImage, pre: ImagePreprocess, train: boolean, reduce: Reduce): Promise<RgbImage> {
  let img = decoded;
  if (pre.resizeMode === 'longest' && pre.padAfterResize && pre.interpolation === 'bicubic' && !train) {
    return padSquare(resizeKeepRatio(img, pre.size), pre.padAfterResize);
  }
  if (pre.interpolation === 'bicubic' && !train) {
    // open_clip's order: the shorter side scaled, then the centre cropped (torchvision on Pillow).
    if (pre.resizeMode === 'shortest') return resizeShortestCrop(img, pre.size);
    if (pre.resizeMode === 'longest') img = padSquare(img, pre.background);
    return img.width === pre.size && img.height === pre.size ? img : resizeBicubic(img, pre.size, pre.size);
  }
  // Bilinear is coca's own resampler (not Pillow's), so open_clip's order buys nothing exact there:
  // the imported fill colour is padded before it, in coca's order.
  if (pre.resizeMode === 'longest') img = padSquare(img, pre.padAfterResize ?? pre.background);
  else if (pre.resizeMode === 'shortest' && !train) img = cropSquare(img);
  if (train) {
    const shorter = Math.round(pre.size * TRAIN_DECODE_SCALE);
    const k = shorter / Math.min(img.width, img.height);
    return k === 1 ? img : reduce(img, Math.max(1, Math.round(img.width * k)), Math.max(1, Math.round(img.height * k)));
  }
  if (Math.max(img.width, img.height) > RESAMPLE_ALONE * pre.size) {
    const k = (2 * pre.size) / Math.min(img.width, img.height);
    return reduce(img, Math.max(1, Math.round(img.width * k)), Math.max(1, Math.round(img.height * k)));
  }
  return img;
}

/** Python's round(): halves to the even neighbour (x ≥ 0). */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * open_clip's ResizeKeepRatio(size, longest=1): the longer side scaled to `size`, the other by the
 * same ratio, both rounded as Python rounds (2.5 → 2), then Pillow's bicubic resize.
 */
export function resizeKeepRatio(img: RgbImage, size: number): RgbImage {
  const ratio = Math.max(img.height / size, img.width / size);
  const w = Math.max(1, roundHalfEven(img.width / ratio));
  const h = Math.max(1, roundHalfEven(img.height / ratio));
  return resizeBicubic(img, w, h);
}

export function cropSquare(img: RgbImage): RgbImage {
  const side = Math.min(img.width, img.height);
  if (img.width === img.height) return img;
  const x0 = Math.floor((img.width - side) / 2);
  const y0 = Math.floor((img.height - side) / 2);
  const out = new Uint8Array(side * side * 3);
  for (let y = 0; y < side; y++) out.set(img.data.subarray(((y0 + y) * img.width + x0) * 3, ((y0 + y) * img.width + x0 + side) * 3), y * side * 3);
  return { data: out, width: side, height: side };
}

export function padSquare(img: RgbImage, bg: Triple): RgbImage {
  const side = Math.max(img.width, img.height);
  if (img.width === img.height) return img;
  const x0 = Math.floor((side - img.width) / 2);
  const y0 = Math.floor((side - img.height) / 2);
  const out = new Uint8Array(side * side * 3);
  for (let i = 0; i < side * side; i++) out.set(bg, i * 3);
  for (let y = 0; y < img.height; y++) out.set(img.data.subarray(y * img.width * 3, (y + 1) * img.width * 3), ((y0 + y) * side + x0) * 3);
  return { data: out, width: side, height: side };
}
