// The moving average of the weights (kernels/ema.ts) against its float64 reference (timm's
// ema.lerp_(src, 1 − decay)): five updates at awkward lengths and offsets inside buffers whose
// other floats are NaN (they must stay so), elements whose source has not moved kept exactly, bad input.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { emaUpdate } from '../../kernels/ema.ts';
import { emaRef } from '../../kernels/ema.ref.ts';
import { expectClose } from '../helpers/close.ts';
import { placed, testGpu } from '../helpers/gpu.ts';
import { testRng } from '../helpers/seed.ts';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.pool.trim());

// One fma per update rounds to f32 (~6e-8 relative for values of order 1), and w = 1 − decay is
// rounded once: five updates stay well within 1e-6. Forgetting the (1 − decay) factor, or
// averaging the wrong way round (decay on the source), moves values by ≥ 1e-2.
const TOL = { atol: 1e-6, rtol: 1e-6 };
const DECAYS = [0.3, 0.9, 0.999, 0.5, 0.9999];

describe('ema_update', () => {
  for (const [n, offset] of [[1, 0], [7, 3], [1031, 65], [4099, 1]] as const) {
    it(`5 updates of ${n} floats at offset ${offset} match the float64 reference; the floats around stay NaN`, async () => {
      const rng = testRng(n);
      const e0 = rng.floats(n);
      const ref = new Float64Array(offset + n);
      ref.set(e0, offset);
      const E = placed(gpu, e0, offset, 'ema');
      const S = gpu.alloc(offset + n + 3, 'src');
      for (const decay of DECAYS) {
        const src = new Float32Array(offset + n + 3).fill(NaN);
        // Sources of mixed scale near the average, as weights a step apart are, and far from it.
        src.set(rng.floats(n).map((x, i) => (i % 3 === 0 ? 10 * x : e0[i]! + 1e-3 * x)), offset);
        gpu.write(S, src);
        emaUpdate(gpu, { ema: E, src: S, offset, length: n, decay });
        emaRef(ref, src, offset, n, decay);
      }
      const got = await gpu.read(E, offset + n + 3);
      expectClose(got.subarray(offset, offset + n), ref.subarray(offset), TOL, `average of ${n}`);
      expect([...got.subarray(0, offset), ...got.subarray(offset + n)].every(Number.isNaN), 'floats outside the range untouched').toBe(true);
      gpu.release(E);
      gpu.release(S);
    });
  }

  it('keeps exactly an element whose source equals it (a frozen weight, arena padding)', async () => {
    const rng = testRng(77);
    const v = rng.floats(131).map((x, i) => (i === 5 ? 0 : x * 3.7));
    const [E, S] = [gpu.upload(v, 'ema'), gpu.upload(v, 'src')];
    for (const decay of DECAYS) emaUpdate(gpu, { ema: E, src: S, length: 131, decay });
    expect([...(await gpu.read(E, 131))]).toEqual([...v]);
    gpu.release(E);
    gpu.release(S);
  });

  it('refuses one buffer for both, a decay outside [0, 1), an empty or overlong range', () => {
    const [E, S] = [gpu.alloc(8, 'ema'), gpu.alloc(8, 'src')];
    expect(() => emaUpdate(gpu, { ema: E, src: E, length: 8, decay: 0.9 })).toThrow(/must be different buffers/);
    expect(() => emaUpdate(gpu, { ema: E, src: S, length: 8, decay: 1 })).toThrow(/decay 1 must lie in \[0, 1\)/);
    expect(() => emaUpdate(gpu, { ema: E, src: S, length: 8, decay: NaN })).toThrow(/decay NaN/);
    expect(() => emaUpdate(gpu, { ema: E, src: S, length: 0, decay: 0.9 })).toThrow(/length 0 must be a positive integer/);
    // Pooled buffers may hold more than asked for: overrun what E really holds.
    const floats = E.size / 4;
    expect(() => emaUpdate(gpu, { ema: E, src: S, offset: floats - 4, length: 5, decay: 0.9 })).toThrow(new RegExp(`needs 5 floats from offset ${floats - 4}`));
    gpu.release(E);
    gpu.release(S);
  });
});
