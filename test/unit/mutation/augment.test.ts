// src/data/augment.ts against what its header promises, written here independently: toTensor is
// bilinear resampling through one affine map from output to source pixel centres (then
// (v/255 − mean)/std per channel, CHW planes), checked pixel by pixel against a float64 resampler
// on random crops, flips, offsets and non-square pictures; randomCrop draws as RandomResizedCrop
// (area share uniform in scale, aspect ratio log-uniform in ratio, position uniform, up to 10
// attempts, else the whole picture), checked by its ranges, its fallback and its distribution.
import { describe, expect, it } from 'vitest';
import { DEFAULT_AUGMENT, fullCrop, randomCrop, toTensor, type Crop } from '../../../src/data/augment.ts';
import type { RgbImage } from '../../../src/data/image.ts';
import { Rng } from '../../../src/data/rng.ts';

/** Output pixel (u, v) of channel c, in float64: source point = crop origin + (pixel centre)·scale − ½. */
function resampled(img: RgbImage, crop: Crop, size: number, mean: readonly number[], std: readonly number[], c: number, u: number, v: number): number {
  const cu = crop.flip ? size - (u + 0.5) : u + 0.5;
  const clamp = (s: number, n: number) => Math.min(Math.max(s, 0), n - 1);
  const sx = clamp(crop.x + (cu * crop.w) / size - 0.5, img.width);
  const sy = clamp(crop.y + ((v + 0.5) * crop.h) / size - 0.5, img.height);
  const [x0, y0] = [Math.floor(sx), Math.floor(sy)];
  const [x1, y1] = [Math.min(x0 + 1, img.width - 1), Math.min(y0 + 1, img.height - 1)];
  const [fx, fy] = [sx - x0, sy - y0];
  const px = (x: number, y: number) => img.data[(y * img.width + x) * 3 + c]!;
  const value = (1 - fy) * ((1 - fx) * px(x0, y0) + fx * px(x1, y0)) + fy * ((1 - fx) * px(x0, y1) + fx * px(x1, y1));
  return (value / 255 - mean[c]!) / std[c]!;
}

function randomPicture(rng: Rng, width: number, height: number): RgbImage {
  return { data: Uint8Array.from({ length: width * height * 3 }, () => rng.int(256)), width, height };
}

describe('toTensor: bilinear resampling of a crop', () => {
  const MEAN = [0.48, 0.46, 0.41] as const;
  const STD = [0.27, 0.26, 0.28] as const;

  it('matches a float64 resampler on random crops (fractional, flipped, past the edges), sizes and offsets', () => {
    const rng = new Rng(11);
    for (let trial = 0; trial < 40; trial++) {
      const img = randomPicture(rng, 3 + rng.int(17), 2 + rng.int(13));
      const size = 1 + rng.int(12);
      // Crops may start before the picture and end past it (clamped), or cover a sliver.
      const crop: Crop = { x: rng.uniform(-1, img.width - 1), y: rng.uniform(-1, img.height - 1), w: rng.uniform(0.3, img.width), h: rng.uniform(0.3, img.height), flip: rng.next() < 0.5 };
      const offset = rng.int(5);
      // A finite sentinel around the tensor (a loop running one past its end writes NaN, which a
      // NaN poison would not show), a whole plane of it after.
      const out = new Float32Array(offset + 4 * size * size).fill(12345);
      toTensor(img, crop, size, MEAN, STD, out, offset);
      const what = `${img.width}x${img.height} crop ${JSON.stringify(crop)} → ${size}, offset ${offset}`;
      const outside = [...out.subarray(0, offset), ...out.subarray(offset + 3 * size * size)];
      expect(outside.every((v) => v === 12345), `${what}: nothing written outside`).toBe(true);
      for (let c = 0; c < 3; c++)
        for (let v = 0; v < size; v++)
          for (let u = 0; u < size; u++) {
            const got = out[offset + (c * size + v) * size + u]!;
            const want = resampled(img, crop, size, MEAN, STD, c, u, v);
            // float32 weights and output: a few 1e-6 on values of order 1/std.
            if (!(Math.abs(got - want) <= 2e-5)) expect.fail(`${what}: channel ${c} (${u}, ${v}) is ${got}, want ${want}`);
          }
    }
  });

  it('an upscaled 2x2 picture interpolates between its pixel centres and holds the edge values beyond them', () => {
    // Pixels 0 and 255 side by side, scaled to 4 wide: source x = (u + ½)/2 − ½ = −¼, ¼, ¾, 5/4.
    const img: RgbImage = { data: Uint8Array.from([0, 0, 0, 255, 255, 255, 0, 0, 0, 255, 255, 255]), width: 2, height: 2 };
    const out = new Float32Array(3 * 16);
    toTensor(img, fullCrop(img), 4, [0, 0, 0], [1, 1, 1], out);
    expect(Array.from(out.subarray(0, 4), (v) => Math.round(v * 255 * 1000) / 1000)).toEqual([0, 63.75, 191.25, 255]);
    // Every row the same (both rows alike), every channel the same.
    for (let c = 0; c < 3; c++) for (let v = 0; v < 4; v++) expect(Array.from(out.subarray((c * 4 + v) * 4, (c * 4 + v + 1) * 4))).toEqual(Array.from(out.subarray(0, 4)));
  });
});

describe('randomCrop: RandomResizedCrop', () => {
  const pic = (width: number, height: number): RgbImage => ({ data: new Uint8Array(0), width, height });

  it('keeps area share and aspect ratio in range, the crop inside the picture, and draws them as promised', () => {
    const rng = new Rng(3);
    const cfg = { scale: [0.1, 0.3] as const, ratio: [0.5, 2] as const, flip: true };
    const img = pic(200, 200); // always fits: the widest crop is √(0.3·2)·200 < 200
    const n = 4000;
    let [share, logRatio, xPos, yPos, flips] = [0, 0, 0, 0, 0];
    const bad: string[] = [];
    for (let i = 0; i < n; i++) {
      const c = randomCrop(img, cfg, rng);
      const a = (c.w * c.h) / (200 * 200);
      const inRange = a >= 0.1 - 1e-12 && a <= 0.3 + 1e-12 && c.w / c.h >= 0.5 - 1e-12 && c.w / c.h <= 2 + 1e-12;
      const inside = c.x >= 0 && c.y >= 0 && c.x + c.w <= 200 + 1e-9 && c.y + c.h <= 200 + 1e-9;
      if (!inRange || !inside) bad.push(JSON.stringify(c));
      share += a;
      logRatio += Math.log(c.w / c.h);
      xPos += c.x / (200 - c.w);
      yPos += c.y / (200 - c.h);
      if (c.flip) flips++;
    }
    expect(bad, 'crops out of range or outside the picture').toEqual([]);
    // Means of uniform draws (n = 4000: standard errors ~0.001, 0.011, 0.005, 0.005, 0.008).
    expect(Math.abs(share / n - 0.2)).toBeLessThan(0.006);
    expect(Math.abs(logRatio / n)).toBeLessThan(0.05); // log-uniform in [ln ½, ln 2]: mean 0
    expect(Math.abs(xPos / n - 0.5)).toBeLessThan(0.025);
    expect(Math.abs(yPos / n - 0.5)).toBeLessThan(0.025);
    expect(Math.abs(flips / n - 0.5)).toBeLessThan(0.04);
  });

  it('draws the aspect ratio log-uniformly, not uniformly: as many crops wider than 1:1 as taller', () => {
    const rng = new Rng(8);
    const cfg = { scale: [0.05, 0.06] as const, ratio: [0.25, 4] as const, flip: false };
    // (uniform in [¼, 4] would make 80 % of crops wider than tall)
    let wider = 0;
    const n = 4000;
    for (let i = 0; i < n; i++) {
      const c = randomCrop(pic(500, 500), cfg, rng);
      if (c.w > c.h) wider++;
    }
    expect(Math.abs(wider / n - 0.5)).toBeLessThan(0.04);
  });

  it('falls back to the whole picture (still flipped at random) when 10 attempts do not fit', () => {
    const rng = new Rng(4);
    let flips = 0;
    for (let i = 0; i < 200; i++) {
      const c = randomCrop(pic(30, 20), { scale: [1.5, 2], ratio: [1, 1], flip: true }, rng);
      expect({ x: c.x, y: c.y, w: c.w, h: c.h }).toEqual({ x: 0, y: 0, w: 30, h: 20 });
      if (c.flip) flips++;
    }
    expect(flips).toBeGreaterThan(70);
    expect(flips).toBeLessThan(130);
  });

  it('a crop that fits only on some attempts is retried: tall and wide pictures, nothing outside them', () => {
    // 10x100 (or 100x10): a crop of 5–20 % of the area fits only when its ratio is far enough
    // from 1 the right way (about 1 attempt in 3 fails). Ten attempts make a fallback to the whole
    // picture rare (~0.3^10); one attempt would fall back every third draw.
    const rng = new Rng(9);
    for (const [W, H, ratio] of [[10, 100, [0.05, 1]], [100, 10, [1, 20]]] as const) {
      let fallbacks = 0;
      const bad: string[] = [];
      for (let i = 0; i < 500; i++) {
        const c = randomCrop(pic(W, H), { scale: [0.05, 0.2], ratio, flip: false }, rng);
        if (c.flip || c.x < 0 || c.y < 0 || c.x + c.w > W + 1e-9 || c.y + c.h > H + 1e-9) bad.push(JSON.stringify(c));
        if (c.w === W && c.h === H) fallbacks++;
      }
      expect(bad, `${W}x${H}: crops outside the picture`).toEqual([]);
      expect(fallbacks, `${W}x${H}: fallbacks to the whole picture`).toBeLessThan(5);
    }
  });

  it('never flips when flipping is off, with the default ranges too', () => {
    const rng = new Rng(6);
    for (let i = 0; i < 200; i++) expect(randomCrop(pic(40, 30), { ...DEFAULT_AUGMENT, flip: false }, rng).flip).toBe(false);
  });
});
