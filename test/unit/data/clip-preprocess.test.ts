// open_clip's eval preprocessing (resize_mode "shortest", bicubic) against Pillow itself:
// test/fixtures/clip_preprocess.json holds what Pillow's BICUBIC resize with torchvision's
// Resize + CenterCrop arithmetic made of each picture (scripts/reference/clip_preprocess.py).
// Awkward sizes: both orientations, 60:1, 32× down, unchanged, up, crop offsets of x.5.
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { CLIP_MEAN, CLIP_STD, fullCrop, toTensor } from '../../../src/data/augment.ts';
import { decodePicture } from '../../../src/data/image.ts';
import { resizeShortestCrop } from '../../../src/data/resample.ts';
import { tempDir } from './fixtures.ts';

interface Case {
  width: number;
  height: number;
  size: number;
  pattern: 'noise' | 'smooth';
  output: string;
}
const fx = JSON.parse(fs.readFileSync(path.join(import.meta.dirname, '../../fixtures/clip_preprocess.json'), 'utf8')) as { cases: Case[] };

/** The pictures of clip_preprocess.py's pixels(), the same formula. */
function pixels(w: number, h: number, pattern: Case['pattern']): Uint8Array {
  const out = new Uint8Array(w * h * 3);
  if (pattern === 'noise') {
    for (let i = 0; i < out.length; i++) out[i] = Math.floor(((i * 1103515245 + 12345) % 2 ** 32) / 65536) % 256;
    return out;
  }
  let i = 0;
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let c = 0; c < 3; c++) out[i++] = c !== 1 ? (Math.floor((x * 255) / Math.max(1, w - 1)) + (y > Math.floor(h / 2) ? 128 : 0)) % 256 : Math.floor((y * 255) / Math.max(1, h - 1));
  return out;
}

describe("open_clip's bicubic resize and centre crop", () => {
  it.each(fx.cases.map((c) => [`${c.width}x${c.height} → ${c.size} (${c.pattern})`, c] as const))('%s: equal to Pillow, byte for byte', (_n, c) => {
    const got = resizeShortestCrop({ data: pixels(c.width, c.height, c.pattern), width: c.width, height: c.height }, c.size);
    expect([got.width, got.height]).toEqual([c.size, c.size]);
    expect(Buffer.from(got.data).equals(Buffer.from(c.output, 'base64'))).toBe(true);
  });

  it('a config choosing bicubic feeds the model exactly that from a picture file', async () => {
    const c = fx.cases.find((k) => k.width === 203)!;
    const file = path.join(tempDir(), 'p.png');
    await sharp(Buffer.from(pixels(c.width, c.height, c.pattern)), { raw: { width: c.width, height: c.height, channels: 3 } }).png().toFile(file);
    const pre = { size: c.size, mean: CLIP_MEAN, std: CLIP_STD, interpolation: 'bicubic' as const, resizeMode: 'shortest' as const, background: [255, 255, 255] as const };
    const img = await decodePicture({ path: file }, pre, false);
    const t = new Float32Array(3 * c.size * c.size).fill(NaN);
    toTensor(img, fullCrop(img), c.size, pre.mean, pre.std, t);
    const want = Buffer.from(c.output, 'base64');
    const plane = c.size * c.size;
    let worst = 0;
    for (let ch = 0; ch < 3; ch++) for (let i = 0; i < plane; i++) worst = Math.max(worst, Math.abs(t[ch * plane + i]! - (want[i * 3 + ch]! / 255 - pre.mean[ch]!) / pre.std[ch]!));
    expect(worst).toBeLessThan(1e-5);
    // Not the bilinear path: it gives other pixels.
    const bl = await decodePicture({ path: file }, { ...pre, interpolation: 'bilinear' }, false);
    const t2 = new Float32Array(3 * plane);
    toTensor(bl, fullCrop(bl), c.size, pre.mean, pre.std, t2);
    expect(t2.some((v, i) => Math.abs(v - t[i]!) > 0.05)).toBe(true);
  });
});
