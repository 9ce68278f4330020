// The trainer's moving average of the weights (src/train/ema.ts): timm ModelEmaV3's warm-up decay
// worked by hand; over a ParamStore of awkward sizes (two decayed tensors, a bias, a batch-norm
// buffer in a chunk of its own), updates after simulated AdamW steps match a float64 average,
// swap() exchanges weights and average bit for bit and back, state()/load() round-trip.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { ParamStore, type ParamSpec } from '../../src/nn/params.ts';
import { emaDecay, WeightAverage } from '../../src/train/ema.ts';
import { expectClose } from '../helpers/close.ts';
import { testGpu } from '../helpers/gpu.ts';
import { testRng } from '../helpers/seed.ts';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.pool.trim());

describe('emaDecay (timm ModelEmaV3, use_warmup, gamma 1, power 2/3)', () => {
  it('is 0 at the first update, then 1 − t^(−2/3) until the decay caps it', () => {
    expect(emaDecay(0.999, 1)).toBe(0);
    expect(emaDecay(0.999, 0)).toBe(0);
    // t = 2: 1 − 2^(−2/3) = 1 − 0.629960…
    expect(emaDecay(0.999, 2)).toBeCloseTo(0.3700395, 7);
    // t = 9: 1 − 9^(−2/3) = 1 − 1/4.3267487…
    expect(emaDecay(0.999, 9)).toBeCloseTo(1 - 1 / 4.3267487, 7);
    // 1000^(−2/3) = 0.01 exactly in reals: below the cap.
    expect(emaDecay(0.999, 1000)).toBeCloseTo(0.99, 12);
    expect(emaDecay(0.9, 1000)).toBe(0.9);
    expect(emaDecay(0.999, 100_000)).toBe(0.999);
  });
});

const SPECS: ParamSpec[] = [
  { name: 'w1', shape: [7, 3], decay: true, init: { kind: 'normal', std: 1 } },
  { name: 'b1', shape: [5], decay: false, init: { kind: 'normal', std: 1 } },
  { name: 'w2', shape: [67], decay: true, init: { kind: 'normal', std: 1 } },
  { name: 'bn.running_mean', shape: [3], decay: false, init: { kind: 'zeros' }, buffer: true },
];

async function host(store: ParamStore): Promise<Map<string, Float32Array>> {
  return new Map([...(await store.state())].map(([k, v]) => [k, v.data]));
}

describe('WeightAverage', () => {
  it('follows the weights as a float64 average with the warm-up decay would, in every chunk', async () => {
    const rng = testRng(3);
    const store = ParamStore.create(gpu, SPECS, rng);
    expect(store.chunks.length, 'the buffer sits in a chunk of its own').toBe(2);
    const avg = new WeightAverage(gpu, store, 0.95);
    const ref = new Map([...(await host(store))].map(([k, v]) => [k, Float64Array.from(v)]));
    for (let t = 1; t <= 6; t++) {
      // An optimiser step: every weight moves (the buffer too, as batch norm moves it).
      const moved = new Map<string, { shape: number[]; data: Float32Array }>();
      for (const s of SPECS) moved.set(s.name, { shape: s.shape, data: Float32Array.from({ length: s.shape.reduce((a, b) => a * b) }, () => rng.normal()) });
      store.load(moved);
      avg.update(t);
      const d = emaDecay(0.95, t);
      for (const [k, r] of ref) for (let i = 0; i < r.length; i++) r[i] = r[i]! + (1 - d) * (moved.get(k)!.data[i]! - r[i]!);
    }
    const got = await avg.state();
    for (const [k, r] of ref) expectClose(got.get(k)!.data, r, { atol: 1e-6, rtol: 1e-6 }, k);
    avg.release();
    store.release();
  });

  it('starts as the weights, exactly, and its first update copies them exactly', async () => {
    const store = ParamStore.create(gpu, SPECS, testRng(4));
    const avg = new WeightAverage(gpu, store, 0.999);
    const w = await host(store);
    for (const [k, v] of await avg.state()) expect([...v.data], k).toEqual([...w.get(k)!]);
    const moved = new Map(SPECS.map((s) => [s.name, { shape: s.shape, data: Float32Array.from({ length: s.shape.reduce((a, b) => a * b) }, (_, i) => 0.1 * i - 1.3) }]));
    store.load(moved);
    avg.update(1);
    for (const [k, v] of await avg.state()) expect([...v.data], k).toEqual([...moved.get(k)!.data]);
    avg.release();
    store.release();
  });

  it('swap() puts the average in the weights’ place and back, bit for bit; load() sets it by name', async () => {
    const rng = testRng(5);
    const store = ParamStore.create(gpu, SPECS, rng);
    const avg = new WeightAverage(gpu, store, 0.9);
    const saved = new Map(SPECS.map((s) => [s.name, { shape: s.shape, data: Float32Array.from({ length: s.shape.reduce((a, b) => a * b) }, () => rng.normal()) }]));
    avg.load(saved);
    const weights = await host(store);
    avg.swap();
    for (const [k, v] of await host(store)) expect([...v], `weights' place holds the average: ${k}`).toEqual([...saved.get(k)!.data]);
    for (const [k, v] of await avg.state()) expect([...v.data], `the average's place holds the weights: ${k}`).toEqual([...weights.get(k)!]);
    avg.swap();
    for (const [k, v] of await host(store)) expect([...v], k).toEqual([...weights.get(k)!]);
    expect(() => avg.load(new Map([...saved].filter(([k]) => k !== 'b1')))).toThrow(/has no "b1" where the model has \[5\]; it was made for another config/);
    avg.release();
    store.release();
  });
});
