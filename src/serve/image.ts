// Uploaded bytes → the model's input. Nothing about an upload is trusted: the type is read from
// the first bytes (a header or file name saying image/png proves nothing), the pixel count is
// read from the image header before anything is decoded, so a small file that would expand to
// gigabytes (a decompression bomb) is refused without being decoded, and libvips' own
// limitInputPixels stays on as a second fence. SVG is not accepted from the network: librsvg
// would follow its references and its cost is unbounded by its byte size.
import sharp, { type Metadata } from 'sharp';
import { decodePicture } from '../data/image.ts';
import { toModelInput } from '../data/prep.ts';
import type { ImagePreprocess } from '../data/preprocess.ts';
import { CocaError } from '../util/errors.ts';

/** An upload that cannot be used; the HTTP layer answers `status` with the message. */
export class UploadError extends CocaError {
  override name = 'UploadError';
  constructor(
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

export type ImageKind = 'png' | 'jpeg' | 'gif' | 'webp' | 'avif' | 'tiff';
export const ACCEPTED = 'PNG, JPEG, GIF, WebP, AVIF or TIFF';

const ascii = (b: Buffer, from: number, to: number) => b.subarray(from, to).toString('latin1');

/** The image format the bytes start with, or null. */
export function sniff(b: Buffer): ImageKind | null {
  if (b.length >= 8 && b.readUInt32BE(0) === 0x89504e47 && b.readUInt32BE(4) === 0x0d0a1a0a) return 'png';
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (b.length >= 6 && /^GIF8[79]a$/.test(ascii(b, 0, 6))) return 'gif';
  if (b.length >= 12 && ascii(b, 0, 4) === 'RIFF' && ascii(b, 8, 12) === 'WEBP') return 'webp';
  if (b.length >= 12 && ascii(b, 4, 8) === 'ftyp' && /^avi[fs]$/.test(ascii(b, 8, 12))) return 'avif';
  if (b.length >= 4 && (ascii(b, 0, 4) === 'II*\0' || ascii(b, 0, 4) === 'MM\0*')) return 'tiff';
  return null;
}

/** What a sniffed upload is: its kind and size, checked against the pixel budget. */
export interface CheckedImage {
  bytes: Buffer;
  kind: ImageKind;
  width: number;
  height: number;
}

const mp = (n: number) => `${(n / 1e6).toFixed(n < 1e6 ? 3 : 1)} MP`;

/** Sniffs the type and reads the header; every refusal is a 400 with one line saying why. */
export async function checkImage(bytes: Buffer, declared: string | undefined, maxPixels: number): Promise<CheckedImage> {
  if (bytes.length === 0) throw new UploadError('the uploaded image is empty (0 bytes)');
  const kind = sniff(bytes);
  if (!kind) {
    const said = declared ? ` (the upload said ${declared}, but its bytes are not an image of a type we read)` : '';
    throw new UploadError(`unsupported image type${said}: send ${ACCEPTED}`);
  }
  let meta: Metadata;
  try {
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (e) {
    throw new UploadError(`cannot read the ${kind.toUpperCase()} image: ${firstLine(e)}; the file is corrupt or truncated`);
  }
  const width = meta.width ?? 0;
  const height = meta.height ?? 0;
  // Animated GIF/WebP: only the first frame is decoded (pages: 1), so one frame's pixels count.
  if (width <= 0 || height <= 0) throw new UploadError(`the ${kind.toUpperCase()} image has no size in its header; the file is corrupt`);
  if (width * height > maxPixels) {
    throw new UploadError(`the image is ${width}×${height} = ${mp(width * height)}, over the limit of ${mp(maxPixels)} (large or decompression-bomb images are refused)`, 413);
  }
  return { bytes, kind, width, height };
}

/** The checked image as the model sees it: [3, S, S] prepared as its preprocessing says, written into `out` at `offset`. */
export async function decodeForModel(img: CheckedImage, pre: ImagePreprocess, maxPixels: number, out: Float32Array, offset: number): Promise<void> {
  let rgb;
  try {
    rgb = await decodePicture({ bytes: img.bytes, maxPixels }, pre, false);
  } catch (e) {
    throw new UploadError(`cannot decode the ${img.kind.toUpperCase()} image: ${firstLine(e).replace(/^cannot decode image upload: (Input (buffer|file) )?/, '')}; the file is corrupt or truncated`);
  }
  toModelInput(rgb, pre, out, offset);
}

/** 10 MB, 1.5 MB, 64 KB: limits as a person reads them. */
export const fmtBytes = (b: number) => (b >= 1048576 ? `${(b / 1048576).toFixed(b % 1048576 ? 1 : 0)} MB` : `${Math.round(b / 1024)} KB`);

function firstLine(e: unknown): string {
  return ((e as Error).message ?? String(e)).split('\n')[0]!.replace(/^Input (buffer|file) /, '');
}
