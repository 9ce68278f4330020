// The browser's picture decoder: createImageBitmap decodes (the browser's own PNG/JPEG/WebP/GIF
// decoders), an OffscreenCanvas flattens transparency on the preprocessing's background and
// reduces a picture far larger than the model's side; the rest is the code Node runs
// (picture.ts, then augment.ts's resampler and normalisation). So the two paths differ only in
// decoding, alpha blending and that reduction; test/browser/image.browser.ts measures by how much.
// No Node module and no DOM types here: the browser globals are declared as far as they are used.
import { fullCrop, toTensor } from './augment.ts';
import { DataError } from './errors.ts';
import type { RgbImage } from './image.ts';
import { preparePicture } from './picture.ts';
import type { ImagePreprocess } from './preprocess.ts';

interface Bitmap {
  readonly width: number;
  readonly height: number;
  close(): void;
}
interface Context2d {
  fillStyle: string;
  imageSmoothingEnabled: boolean;
  imageSmoothingQuality: 'low' | 'medium' | 'high';
  fillRect(x: number, y: number, w: number, h: number): void;
  drawImage(image: unknown, dx: number, dy: number, dw?: number, dh?: number): void;
  getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray };
}
interface Canvas {
  getContext(kind: '2d', options?: { willReadFrequently?: boolean; alpha?: boolean }): Context2d | null;
}
interface BrowserImaging {
  createImageBitmap(source: unknown, options?: Record<string, string | number>): Promise<Bitmap>;
  OffscreenCanvas: new (width: number, height: number) => Canvas;
  ImageData: new (data: Uint8ClampedArray, width: number, height: number) => unknown;
}

function imaging(): BrowserImaging {
  const g = globalThis as unknown as Partial<BrowserImaging>;
  if (!g.createImageBitmap || !g.OffscreenCanvas || !g.ImageData) {
    throw new DataError('this browser cannot decode pictures off screen (createImageBitmap and OffscreenCanvas are missing): use a current Chrome, Edge, Firefox or Safari');
  }
  return g as BrowserImaging;
}

/**
 * `source` (a Blob, File, ImageData or image element) drawn over `bg` at width×height, as 8-bit RGB;
 * `bg` null: transparency dropped (open_clip's models), as far as a canvas keeps the colour under
 * it — canvases store premultiplied colour, so a fully transparent pixel reads black there, where
 * Node's path (and Pillow) keep the stored colour.
 */
async function rasterise(source: unknown, bg: readonly number[] | null, width?: number, height?: number): Promise<RgbImage> {
  const dom = imaging();
  // No colour management (as the sharp path, which keeps the pixel values of untagged files)
  // and straight alpha, blended once, on the canvas, over the background.
  const bmp = await dom.createImageBitmap(source, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  try {
    const w = width ?? bmp.width;
    const h = height ?? bmp.height;
    const ctx = new dom.OffscreenCanvas(w, h).getContext('2d', { willReadFrequently: true, alpha: bg === null });
    if (!ctx) throw new DataError('this browser gave no 2-D canvas to decode pictures on');
    if (bg) {
      ctx.fillStyle = `rgb(${bg[0]}, ${bg[1]}, ${bg[2]})`;
      ctx.fillRect(0, 0, w, h);
    }
    ctx.imageSmoothingEnabled = true;
    ctx.imageSmoothingQuality = 'high';
    ctx.drawImage(bmp, 0, 0, w, h);
    const rgba = ctx.getImageData(0, 0, w, h).data;
    const data = new Uint8Array(w * h * 3);
    for (let i = 0, j = 0; j < data.length; i += 4, j += 3) {
      data[j] = rgba[i]!;
      data[j + 1] = rgba[i + 1]!;
      data[j + 2] = rgba[i + 2]!;
    }
    return { data, width: w, height: h };
  } finally {
    bmp.close();
  }
}

/** The canvas's reduction (Node's is libvips'): antialiased, to width×height. */
async function reduceOnCanvas(img: RgbImage, width: number, height: number): Promise<RgbImage> {
  const dom = imaging();
  const rgba = new Uint8ClampedArray(img.width * img.height * 4);
  for (let i = 0, j = 0; j < img.data.length; i += 4, j += 3) {
    rgba[i] = img.data[j]!;
    rgba[i + 1] = img.data[j + 1]!;
    rgba[i + 2] = img.data[j + 2]!;
    rgba[i + 3] = 255;
  }
  return rasterise(new dom.ImageData(rgba, img.width, img.height), [0, 0, 0], width, height);
}

/** A picture decoded in the browser and prepared as the model's preprocessing says, before resampling (Node: image.ts's decodePicture). */
export async function decodePictureInBrowser(source: unknown, pre: ImagePreprocess, train = false): Promise<RgbImage> {
  let img: RgbImage;
  try {
    img = await rasterise(source, pre.alpha === 'drop' ? null : pre.background);
  } catch (e) {
    if (e instanceof DataError) throw e;
    const why = (e instanceof Error ? e.message : String(e)).split('\n')[0]!.replace(/\.$/, '');
    throw new DataError(`cannot decode the picture: ${why}; the file is not an image this browser reads, or it is corrupt`);
  }
  return preparePicture(img, pre, train, reduceOnCanvas);
}

/** A picture as the model's input: [3, S, S] normalised, written into `out` at `offset` (Node: prep.ts's toModelInput). */
export async function pictureToModelInput(source: unknown, pre: ImagePreprocess, out: Float32Array, offset = 0): Promise<void> {
  const img = await decodePictureInBrowser(source, pre, false);
  toTensor(img, fullCrop(img), pre.size, pre.mean, pre.std, out, offset);
}
