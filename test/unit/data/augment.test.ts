import { describe, expect, it } from 'vitest';
import { DEFAULT_AUGMENT, fullCrop, randomCrop, toTensor } from '../../../src/data/augment.ts';
import { Rng } from '../../../src/data/rng.ts';
import { patternPixels } from './fixtures.ts';

const MEAN = [0.4, 0.5, 0.6] as const;
const STD = [0.2, 0.25, 0.3] as const;

describe('image to tensor', () => {
  const s = 9;
  const img = { data: patternPixels(s, s, 3), width: s, height: s };

  it('copies every pixel into CHW planes, normalised, when the crop is the whole image at its size', () => {
    const out = new Float32Array(3 * s * s);
    toTensor(img, fullCrop(img), s, MEAN, STD, out);
    for (let y = 0; y < s; y++)
      for (let x = 0; x < s; x++)
        for (let c = 0; c < 3; c++) {
          const want = (img.data[(y * s + x) * 3 + c]! / 255 - MEAN[c]!) / STD[c]!;
          expect(out[c * s * s + y * s + x]).toBeCloseTo(want, 4);
        }
  });

  it('mirrors columns when flipped', () => {
    const a = new Float32Array(3 * s * s);
    const b = new Float32Array(3 * s * s);
    toTensor(img, fullCrop(img), s, MEAN, STD, a);
    toTensor(img, { ...fullCrop(img), flip: true }, s, MEAN, STD, b);
    for (let c = 0; c < 3; c++)
      for (let y = 0; y < s; y++) for (let x = 0; x < s; x++) expect(b[c * s * s + y * s + x]).toBeCloseTo(a[c * s * s + y * s + (s - 1 - x)]!, 4);
  });

  it('samples a crop at the crop\'s pixels: a 2× crop of the top-left quarter repeats its pixels', () => {
    const big = { data: patternPixels(8, 8, 1), width: 8, height: 8 };
    const out = new Float32Array(3 * 8 * 8);
    toTensor(big, { x: 0, y: 0, w: 4, h: 4, flip: false }, 8, [0, 0, 0], [1, 1, 1], out);
    // Output pixel centre 1.5 maps to source 0.75-0.5=0.25: a quarter of the way from pixel 0 to 1.
    const src = (x: number, y: number) => big.data[(y * 8 + x) * 3]! / 255;
    expect(out[0]).toBeCloseTo(src(0, 0), 5);
    expect(out[1]).toBeCloseTo(src(0, 0) * 0.75 + src(1, 0) * 0.25, 5);
  });

  it('draws random crops inside the image, within the configured area share', () => {
    const rng = new Rng(5);
    const pic = { data: new Uint8Array(40 * 30 * 3), width: 40, height: 30 };
    let flips = 0;
    for (let i = 0; i < 200; i++) {
      const c = randomCrop(pic, DEFAULT_AUGMENT, rng);
      expect(c.x).toBeGreaterThanOrEqual(0);
      expect(c.y).toBeGreaterThanOrEqual(0);
      expect(c.x + c.w).toBeLessThanOrEqual(40 + 1e-9);
      expect(c.y + c.h).toBeLessThanOrEqual(30 + 1e-9);
      expect((c.w * c.h) / (40 * 30)).toBeGreaterThanOrEqual(DEFAULT_AUGMENT.scale[0] - 1e-9);
      if (c.flip) flips++;
    }
    expect(flips).toBeGreaterThan(60);
    expect(flips).toBeLessThan(140);
  });
});
