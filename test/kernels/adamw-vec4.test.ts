// AdamW's vec4 entry point (adamw_step4: a run's start and length on multiples of 4) gives the
// bits of the scalar one (COCA_ADAMW_VEC4=0) in parameters, m and v over several steps, with and
// without decay, with the clip scale, and leaves everything as it was on a non-finite step; a run
// off a 16-byte boundary keeps the scalar entry point. (adamw.test.ts holds the update to float64
// and to torch's.)
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { adamw, gradNorm, type AdamWSegment } from '../../kernels/adamw.ts';
import { kernelKeys } from '../helpers/dispatches.ts';
import { testGpu } from '../helpers/gpu.ts';
import { testRng } from '../helpers/seed.ts';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.pool.trim());
afterEach(() => {
  delete process.env.COCA_ADAMW_VEC4;
});

async function run(n: number, segments: AdamWSegment[], vec4: boolean, salt: number, opts: { clip?: number; poison?: boolean } = {}) {
  process.env.COCA_ADAMW_VEC4 = vec4 ? '1' : '0';
  const rng = testRng(salt);
  const params = gpu.upload(rng.floats(n), 'params');
  const m = gpu.upload(new Float32Array(n), 'm');
  const v = gpu.upload(new Float32Array(n), 'v');
  const stats = gpu.alloc(4, 'stats');
  const entries = kernelKeys(gpu, () => {
    for (let step = 1; step <= 3; step++) {
      const g = rng.floats(n).map((x) => 3 * x);
      if (opts.poison && step === 3) g[n - 1] = NaN;
      const grads = gpu.upload(g, 'grads');
      const clip = opts.clip !== undefined;
      if (clip) gradNorm(gpu, [{ buffer: grads, length: n }], stats, opts.clip);
      adamw(gpu, { params, grads, m, v, segments, step, hyper: { lr: 0.01, weightDecay: 0.1 }, clip: clip ? stats : undefined, skipNonFinite: clip });
      gpu.release(grads);
    }
  });
  const out = [await gpu.read(params), await gpu.read(m), await gpu.read(v)];
  for (const b of [params, m, v, stats]) gpu.release(b);
  return { out, entries };
}

it('gives the scalar entry point’s bits, with decay, clipping and a skipped non-finite step', async () => {
  const cases: [number, AdamWSegment[], { clip?: number; poison?: boolean }][] = [
    [4, [{ offset: 0, length: 4, decay: true }], {}],
    [1036, [{ offset: 0, length: 512, decay: true }, { offset: 512, length: 524, decay: false }], { clip: 0.5 }],
    [20000, [{ offset: 4, length: 19996, decay: true }], { clip: 100 }],
    [260, [{ offset: 0, length: 128, decay: false }, { offset: 128, length: 132, decay: true }], { clip: 1, poison: true }],
  ];
  for (const [i, [n, segments, opts]] of cases.entries()) {
    const a = await run(n, segments, true, 7100 + i, opts);
    const b = await run(n, segments, false, 7100 + i, opts);
    expect(a.entries.filter((k) => k.includes('adamw_step4')).length, `case ${i}: ${a.entries}`).toBe(3 * segments.length);
    expect(b.entries.some((k) => k.includes('adamw_step4')), `case ${i}`).toBe(false);
    for (const [j, what] of ['params', 'm', 'v'].entries()) {
      expect(a.out[j]!.every(Number.isFinite), `case ${i} ${what} finite`).toBe(true);
      expect(Array.from(a.out[j]!), `case ${i} ${what} bits`).toEqual(Array.from(b.out[j]!));
    }
  }
});

it('keeps the scalar entry point for a run off a 16-byte boundary', async () => {
  const { entries } = await run(30, [{ offset: 2, length: 27, decay: true }], true, 7200);
  expect(entries.some((k) => k.includes('adamw_step4')), `${entries}`).toBe(false);
  expect(entries.some((k) => k.includes('adamw_step')), `${entries}`).toBe(true);
});
