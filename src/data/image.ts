// Decoding and resizing with sharp (libvips). Every image becomes 8-bit sRGB with 3 channels,
// alpha flattened on white (or, for a model's input, on the background its preprocessing names). sharp runs each call on libuv's worker threads, so many decodes in
// flight use all cores while the main thread records GPU work.
import sharp from 'sharp';
import type { Triple } from './augment.ts';
import { DataError } from './errors.ts';
import type { ImagePreprocess } from './preprocess.ts';
import { preparePicture } from './picture.ts';

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
  if ('bytes' in input) {
    const img = sharp(input.bytes, { limitInputPixels: input.maxPixels, failOn: 'error', pages: 1 });
    // Bytes come from shards and uploads, often over the network, and are never read as SVG
    // (serve/image.ts says why): libvips would take markup under any name, a .png member included.
    if ((await img.metadata()).format === 'svg') throw new Error('SVG is not read from shards or uploads; convert it to PNG');
    return img;
  }
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

export { TRAIN_DECODE_SCALE } from './picture.ts';

/**
 * A picture prepared as the model's preprocessing says, before resampling (picture.ts): decoded
 * by sharp with transparency flattened on its background (or dropped, for open_clip's models), then made square or scaled there, with
 * libvips reducing what needs reducing.
 */
export async function decodePicture(input: ImageInput, pre: ImagePreprocess, train: boolean): Promise<RgbImage> {
  let img: RgbImage;
  try {
    const opened = await open(input, pre.size);
    // open_clip's models saw Pillow's convert('RGB'): the colour under transparency, unblended.
    const { data, info } = await (pre.alpha === 'drop' ? opened : opened.flatten({ background: rgbOf(pre.background) }))
      .removeAlpha()
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels`);
    img = { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height };
  } catch (e) {
    throw new DataError(`cannot decode image ${describe(input)}: ${(e as Error).message.split('\n')[0]}`);
  }
  return preparePicture(img, pre, train, resample);
}

function rgbOf(t: Triple): { r: number; g: number; b: number; alpha: number } {
  return { r: t[0], g: t[1], b: t[2], alpha: 1 };
}

async function resample(img: RgbImage, width: number, height: number): Promise<RgbImage> {
  const data = await sharp(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength), { raw: { width: img.width, height: img.height, channels: 3 } })
    .resize(width, height, { fit: 'fill' })
    .raw()
    .toBuffer();
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width, height };
}
