// Two of image.ts's sharp options that the seventh pass could not tell apart from sharp's defaults:
// - `failOn: 'error'`: a JPEG whose scan data ends early (EOI still there) raises only libjpeg's
//   warning "Corrupt JPEG data: premature end of data segment"; sharp's default (`'warning'`)
//   refuses it, ours decodes it, the part before the cut intact.
// - `fit: 'fill'` in training's resampler: the two sides are scaled independently. A picture whose
//   rows are all the same must come out with every row equal to that of the same row scaled alone
//   (same width change, height kept square); sharp's default (`cover`) scales both sides by the
//   larger factor and crops, which changes the row when the two factors differ by rounding.
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { decodePicture, loadShorterSide } from '../../../src/data/image.ts';
import type { ImagePreprocess } from '../../../src/data/preprocess.ts';
import { tempDir } from '../data/fixtures.ts';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

const COLOUR = [100, 150, 200];

/** A 64×64 JPEG: the top 16 rows COLOUR, the rest noise; its scan data cut to 3/4, EOI kept. */
async function cutJpeg(): Promise<Buffer> {
  const w = 64;
  const raw = Buffer.alloc(w * w * 3);
  for (let i = 0; i < raw.length; i++) raw[i] = i < 16 * w * 3 ? COLOUR[i % 3]! : (i * 37) % 251;
  const jpg = await sharp(raw, { raw: { width: w, height: w, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
  let sos = 2;
  while (!(jpg[sos] === 0xff && jpg[sos + 1] === 0xda)) sos++;
  const cut = sos + Math.floor(((jpg.length - 2 - sos) * 3) / 4);
  return Buffer.concat([jpg.subarray(0, cut), Buffer.from([0xff, 0xd9])]);
}

describe('failOn: error', () => {
  it('a JPEG with only a warning (scan data ending early) decodes, from a file and from bytes', async () => {
    const bytes = await cutJpeg();
    // The premise: sharp's default refuses this file.
    await expect(sharp(bytes).raw().toBuffer()).rejects.toThrow(/premature end of data segment/);
    const dir = tempDir('coca-image-options-');
    dirs.push(dir);
    const file = path.join(dir, 'cut.jpg');
    fs.writeFileSync(file, bytes);
    for (const input of [{ path: file }, { bytes, maxPixels: 64 * 64 }]) {
      const img = await loadShorterSide(input, 64);
      expect([img.width, img.height]).toEqual([64, 64]);
      // Row 4, column 4: inside the uniform band, before the cut; within JPEG's rounding.
      const p = [...img.data.subarray((4 * 64 + 4) * 3, (4 * 64 + 4) * 3 + 3)];
      p.forEach((v, c) => expect(Math.abs(v - COLOUR[c]!), `channel ${c}`).toBeLessThanOrEqual(3));
    }
  });
});

describe("fit: 'fill' in training's resampler", () => {
  const pre: ImagePreprocess = { size: 2, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25], interpolation: 'bilinear', resizeMode: 'squash', background: [255, 255, 255] };
  /** A grey picture `height` rows tall, every row [20, 220]. */
  const columns = (height: number) => ({ gray: new Uint8Array(height * 2).map((_, i) => (i % 2 ? 220 : 20)), width: 2, height });
  const row = (img: { data: Uint8Array; width: number }, y: number) => [...img.data.subarray(y * img.width * 3, (y + 1) * img.width * 3)];

  it('each side scaled on its own: 2×3 → 3×5 (×1.5 across, ×5/3 down) gives the rows of 2×2 → 3×3', async () => {
    // Training decodes to a shorter side of round(1.5 · 2) = 3: 2×3 → 3 × round(4.5) = 3×5; 2×2 → 3×3.
    const tall = await decodePicture(columns(3), pre, true);
    const square = await decodePicture(columns(2), pre, true);
    expect([tall.width, tall.height, square.width, square.height]).toEqual([3, 5, 3, 3]);
    // Constant columns stay constant down each column, whatever the vertical scale.
    const want = row(square, 1);
    expect(row(square, 0)).toEqual(want);
    for (let y = 0; y < 5; y++) expect(row(tall, y), `row ${y}`).toEqual(want);
  });
});
