// augment.ts's tensorise with the photometric transforms on, against its header: the crop drawn
// first from the row's generator, the transforms' draws after it from the same generator, the
// crop resampled to [0, 1] values (mean 0, std 1), transformed, then normalised per channel as
// (v − mean[c]) / std[c] — at an offset, nothing written around it. The expected pictures are built
// here from the [0, 1] crop with the rules written out (luma weights, a direct 2-D Gaussian).
import { describe, expect, it } from 'vitest';
import { DEFAULT_AUGMENT, fullCrop, randomCrop, tensorise, toTensor, type AugmentConfig, type Crop } from '../../../src/data/augment.ts';
import type { RgbImage } from '../../../src/data/image.ts';
import type { ImagePreprocess } from '../../../src/data/preprocess.ts';
import { Rng } from '../../../src/data/rng.ts';

const SIZE = 5;
const PLANE = SIZE * SIZE;
const MEAN = [0.4, 0.5, 0.6] as const;
const STD = [0.2, 0.25, 0.3] as const;
const pre: ImagePreprocess = { size: SIZE, mean: MEAN, std: STD, interpolation: 'bilinear', resizeMode: 'longest', background: [255, 255, 255] };

function picture(w: number, h: number, seed: number): RgbImage {
  const rng = new Rng(seed);
  return { data: Uint8Array.from({ length: w * h * 3 }, () => rng.int(256)), width: w, height: h };
}
const img = picture(9, 7, 3);

/** The crop resampled to [0, 1] values, three planes. */
function unit(crop: Crop): number[] {
  const out = new Float32Array(3 * PLANE);
  toTensor(img, crop, SIZE, [0, 0, 0], [1, 1, 1], out, 0);
  return [...out];
}
const normalised = (x: number[]) => x.map((v, k) => (v - MEAN[Math.floor(k / PLANE)]!) / STD[Math.floor(k / PLANE)]!);
const greyed = (x: number[]) => {
  const l = Array.from({ length: PLANE }, (_, i) => 0.2989 * x[i]! + 0.587 * x[PLANE + i]! + 0.114 * x[2 * PLANE + i]!);
  return [...l, ...l, ...l];
};
function blurred(x: number[], sigma: number): number[] {
  const r = Math.ceil(3 * sigma);
  const g = Array.from({ length: 2 * r + 1 }, (_, k) => Math.exp(-((k - r) ** 2) / (2 * sigma * sigma)));
  const total = g.reduce((a, b) => a + b) ** 2;
  const fold = (i: number) => {
    while (i < 0 || i >= SIZE) i = i < 0 ? -i : 2 * (SIZE - 1) - i;
    return i;
  };
  return x.map((_, k) => {
    const [c, v, u] = [Math.floor(k / PLANE), Math.floor((k % PLANE) / SIZE), k % SIZE];
    let s = 0;
    for (let dy = -r; dy <= r; dy++) for (let dx = -r; dx <= r; dx++) s += g[dy + r]! * g[dx + r]! * x[c * PLANE + fold(v + dy) * SIZE + fold(u + dx)]!;
    return s / total;
  });
}

/** tensorise into a buffer with `offset` sentinels before and a plane and more after; returns the tensor, checks the rest. */
function run(cfg: AugmentConfig, seed: number, opts: { train?: boolean; noFlip?: boolean } = {}): number[] {
  const offset = 3;
  const out = new Float32Array(offset + 4 * PLANE + 1).fill(4321);
  tensorise(img, { train: opts.train ?? true, seed, noFlip: opts.noFlip ?? false, augment: cfg, pre }, out, offset);
  const outside = [...out.subarray(0, offset), ...out.subarray(offset + 3 * PLANE)];
  expect(outside.every((v) => v === 4321), 'nothing written outside the tensor').toBe(true);
  return [...out.subarray(offset, offset + 3 * PLANE)];
}

function expectClose(got: number[], want: number[], what: string): void {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) if (!(Math.abs(got[i]! - want[i]!) <= 2e-5)) expect.fail(`${what}: element ${i} is ${got[i]}, want ${want[i]}`);
}

describe('tensorise with photometric transforms', () => {
  it('greyscale at 0.5: the grey draw follows the crop’s from the same generator, then each channel is normalised', () => {
    const cfg: AugmentConfig = { ...DEFAULT_AUGMENT, grey: 0.5 };
    const seen = new Set<boolean>();
    for (let seed = 0; seed < 12; seed++) {
      const rng = new Rng(seed);
      const crop = randomCrop(img, cfg, rng);
      const grey = rng.next() < 0.5;
      seen.add(grey);
      const x = unit(crop);
      expectClose(run(cfg, seed), normalised(grey ? greyed(x) : x), `seed ${seed}`);
    }
    expect(seen.size, 'both outcomes among the seeds').toBe(2);
  });

  it('blur alone turns the photometric path on: sigma drawn after the crop, 0.1 + 0.9·u at 5 px', () => {
    const cfg: AugmentConfig = { ...DEFAULT_AUGMENT, blur: { p: 1 } };
    for (const seed of [1, 2]) {
      const rng = new Rng(seed);
      const crop = randomCrop(img, cfg, rng);
      rng.next();
      const sigma = 0.1 + 0.9 * rng.next();
      expectClose(run(cfg, seed), normalised(blurred(unit(crop), sigma)), `seed ${seed}, sigma ${sigma}`);
    }
  });

  it('a caption naming a side keeps the crop unflipped with the transforms on', () => {
    const cfg: AugmentConfig = { ...DEFAULT_AUGMENT, grey: 1 };
    let flipped = 0;
    for (let seed = 0; seed < 8; seed++) {
      const crop = randomCrop(img, cfg, new Rng(seed));
      if (crop.flip) flipped++;
      expectClose(run(cfg, seed, { noFlip: true }), normalised(greyed(unit({ ...crop, flip: false }))), `seed ${seed}`);
    }
    expect(flipped, 'some crops would have been flipped').toBeGreaterThan(0);
  });

  it('evaluation: the whole picture, normalised, whatever the transforms', () => {
    const cfg: AugmentConfig = { ...DEFAULT_AUGMENT, grey: 1, blur: { p: 1 }, colour: { strength: 0.9, p: 1 } };
    expectClose(run(cfg, 5, { train: false }), normalised(unit(fullCrop(img))), 'eval');
  });

  it('off: the normalisation happens in the resampler, with the row’s crop', () => {
    const crop = randomCrop(img, DEFAULT_AUGMENT, new Rng(7));
    expectClose(run(DEFAULT_AUGMENT, 7), normalised(unit(crop)), 'off');
  });
});
