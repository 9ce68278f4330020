// Decoding and resizing with sharp (libvips). Every image becomes 8-bit sRGB with 3 channels,
// alpha flattened on white (or, for a model's input, on the background its preprocessing names). sharp runs each call on libuv's worker threads, so many decodes in
// flight use all cores while the main thread records GPU work.
import sharp from 'sharp';
import type { Triple } from './augment.ts';
import { DataError } from './errors.ts';
import type { ImagePreprocess } from './preprocess.ts';
import { resizeBicubic, resizeShortestCrop } from './resample.ts';

/** An 8-bit RGB image, rows top to bottom, pixels interleaved (HWC). */
export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
}

/**
 * A file on disk, SVG markup built in memory (game-icons), raw 8-bit grey pixels (Fashion-MNIST),
 * or encoded bytes (uploads, shard members named `name` in messages; decoded up to `maxPixels`,
 * first frame only, never SVG).
 */
export type ImageInput = { path: string } | { svg: string } | { gray: Uint8Array; width: number; height: number } | { bytes: Buffer; maxPixels: number; name?: string };

/** `contain`: the whole picture, letterboxed on white (art); `cover`: shorter side, centre crop (photos); `fill`: squashed. */
export type Fit = 'contain' | 'cover' | 'fill';

const WHITE = { r: 255, g: 255, b: 255, alpha: 1 };

function describe(input: ImageInput): string {
  return 'path' in input ? input.path : 'svg' in input ? 'inline SVG' : 'bytes' in input ? (input.name ?? 'upload') : 'raw pixels';
}

async function open(input: ImageInput, target: number): Promise<ReturnType<typeof sharp>> {
  if ('gray' in input) return sharp(input.gray, { raw: { width: input.width, height: input.height, channels: 1 } });
  if ('bytes' in input) return sharp(input.bytes, { limitInputPixels: input.maxPixels, failOn: 'error', pages: 1 });
  const src = 'path' in input ? input.path : Buffer.from(input.svg);
  const isSvg = 'svg' in input || /\.svgz?$/i.test(input.path);
  if (!isSvg) return sharp(src, { failOn: 'error', pages: 1 });
  // Vector art is rasterised at twice the target size (then downsampled) so that thin strokes
  // survive; at sharp's default 72 dpi a 72-unit OpenMoji would be upscaled and blurred.
  const meta = await sharp(src).metadata();
  const side = Math.max(meta.width ?? target, meta.height ?? target, 1);
  const density = Math.min(2400, Math.max(1, (72 * 2 * target) / side));
  return sharp(src, { density, failOn: 'error' });
}

/** The picture at size×size, flattened on white. */
export async function loadSquare(input: ImageInput, size: number, fit: Fit): Promise<Uint8Array> {
  try {
    const img = await open(input, size);
    const { data, info } = await img
      .flatten({ background: WHITE })
      .resize(size, size, { fit, background: WHITE, position: 'centre' })
      .removeAlpha()
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3 || info.width !== size || info.height !== size) {
      throw new Error(`decoded to ${info.width}x${info.height}x${info.channels}`);
    }
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  } catch (e) {
    throw new DataError(`cannot decode image ${describe(input)}: ${(e as Error).message.split('\n')[0]}`);
  }
}

/** The picture scaled so that its shorter side is `shorter` pixels, aspect kept: the source of random crops. */
export async function loadShorterSide(input: ImageInput, shorter: number): Promise<RgbImage> {
  try {
    const img = await open(input, shorter);
    const { data, info } = await img
      .flatten({ background: WHITE })
      .resize(shorter, shorter, { fit: 'outside' })
      .removeAlpha()
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height };
  } catch (e) {
    throw new DataError(`cannot decode image ${describe(input)}: ${(e as Error).message.split('\n')[0]}`);
  }
}

// Above this many times the model's side a picture is first reduced by libvips (antialiased) to
// twice the side; below it the one resampler of the model's preprocessing (toTensor) does all the
// scaling, so a picture stored at 2× or 4× the model's size (the built-in set's rasters, or them
// exported as PNG files) reaches the model exactly as the built-in path gives it.
const RESAMPLE_ALONE = 4;

// Training crops keep about 70% of the side at the smallest scale; decoding at 1.5× the model's
// side keeps those crops at full resolution.
export const TRAIN_DECODE_SCALE = 1.5;

/**
 * A picture prepared as the model's preprocessing says, before resampling: transparency
 * flattened on its background; for evaluation made square (`shortest`: centre crop, `longest`:
 * padded with the background, `squash`: left as it is, the resampler squashes it); for training
 * padded only for `longest` (random crops do the rest) and scaled so that its shorter side is
 * 1.5× the model's side.
 */
export async function decodePicture(input: ImageInput, pre: ImagePreprocess, train: boolean): Promise<RgbImage> {
  let img: RgbImage;
  try {
    const { data, info } = await (await open(input, pre.size))
      .flatten({ background: rgbOf(pre.background) })
      .removeAlpha()
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels`);
    img = { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height };
  } catch (e) {
    throw new DataError(`cannot decode image ${describe(input)}: ${(e as Error).message.split('\n')[0]}`);
  }
  if (pre.interpolation === 'bicubic' && !train) {
    // open_clip's order: the shorter side scaled, then the centre cropped (torchvision on Pillow).
    if (pre.resizeMode === 'shortest') return resizeShortestCrop(img, pre.size);
    if (pre.resizeMode === 'longest') img = padSquare(img, pre.background);
    return img.width === pre.size && img.height === pre.size ? img : resizeBicubic(img, pre.size, pre.size);
  }
  if (pre.resizeMode === 'longest') img = padSquare(img, pre.background);
  else if (pre.resizeMode === 'shortest' && !train) img = cropSquare(img);
  if (train) {
    const shorter = Math.round(pre.size * TRAIN_DECODE_SCALE);
    const k = shorter / Math.min(img.width, img.height);
    return k === 1 ? img : resample(img, Math.max(1, Math.round(img.width * k)), Math.max(1, Math.round(img.height * k)));
  }
  if (Math.max(img.width, img.height) > RESAMPLE_ALONE * pre.size) {
    const k = (2 * pre.size) / Math.min(img.width, img.height);
    return resample(img, Math.max(1, Math.round(img.width * k)), Math.max(1, Math.round(img.height * k)));
  }
  return img;
}

function rgbOf(t: Triple): { r: number; g: number; b: number; alpha: number } {
  return { r: t[0], g: t[1], b: t[2], alpha: 1 };
}

function cropSquare(img: RgbImage): RgbImage {
  const side = Math.min(img.width, img.height);
  if (img.width === img.height) return img;
  const x0 = Math.floor((img.width - side) / 2);
  const y0 = Math.floor((img.height - side) / 2);
  const out = new Uint8Array(side * side * 3);
  for (let y = 0; y < side; y++) out.set(img.data.subarray(((y0 + y) * img.width + x0) * 3, ((y0 + y) * img.width + x0 + side) * 3), y * side * 3);
  return { data: out, width: side, height: side };
}

function padSquare(img: RgbImage, bg: Triple): RgbImage {
  const side = Math.max(img.width, img.height);
  if (img.width === img.height) return img;
  const x0 = Math.floor((side - img.width) / 2);
  const y0 = Math.floor((side - img.height) / 2);
  const out = new Uint8Array(side * side * 3);
  for (let i = 0; i < side * side; i++) out.set(bg, i * 3);
  for (let y = 0; y < img.height; y++) out.set(img.data.subarray(y * img.width * 3, (y + 1) * img.width * 3), ((y0 + y) * side + x0) * 3);
  return { data: out, width: side, height: side };
}

async function resample(img: RgbImage, width: number, height: number): Promise<RgbImage> {
  const data = await sharp(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength), { raw: { width: img.width, height: img.height, channels: 3 } })
    .resize(width, height, { fit: 'fill' })
    .raw()
    .toBuffer();
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width, height };
}
