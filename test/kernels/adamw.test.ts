// The AdamW family against its float64 reference of torch's formulas: 5 steps over a flat buffer
// with per-tensor decay flags and a gap, tensors in buffers of their own, the global gradient norm
// with clipping (in place and fused), the finite check, and bad input.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { adamw, adamwList, clipGradNorm, gradNorm, mergeSegments, readNonFinite, STATS_FLOATS, type AdamWHyper, type AdamWSegment } from '../../kernels/adamw.ts';
import { adamwRef, gradNormRef, type AdamWRefState } from '../../kernels/adamw.ref.ts';
import { expectClose } from '../helpers/close.ts';
import { poisoned, testGpu } from '../helpers/gpu.ts';
import { testRng } from '../helpers/seed.ts';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.pool.trim());

// The bar: 1e-6 relative after 5 steps. Values of order 1 round to ~6e-8 in f32 per
// operation, so elements that pass near 0 get an absolute floor of 1e-7. Forgetting a bias
// correction, the decay, or using step − 1 moves values by ≥ 1e-4.
const STEP_TOL = { atol: 1e-7, rtol: 1e-6 };
// Σ g² over ~10⁴ float32 terms: ~1e-6 relative.
const NORM_TOL = { atol: 0, rtol: 1e-5 };

const HYPER: AdamWHyper = { lr: 1e-2, beta1: 0.9, beta2: 0.98, eps: 1e-6, weightDecay: 0.1 };

function refState(p: Float32Array): AdamWRefState {
  return { param: Float64Array.from(p), m: new Float64Array(p.length), v: new Float64Array(p.length) };
}

describe('adamw', () => {
  it('5 steps over a flat buffer match torch.optim.AdamW in float64 to 1e-6 relative', async () => {
    const rng = testRng(1);
    const N = 1031;
    // A decayed weight, a bias (no decay), a weight, an untouched gap, a norm gain (no decay).
    const segments: AdamWSegment[] = [
      { offset: 0, length: 300, decay: true },
      { offset: 300, length: 1, decay: false },
      { offset: 301, length: 349, decay: true },
      { offset: 700, length: 331, decay: false },
    ];
    const p0 = rng.floats(N);
    const ref = refState(p0);
    const [P, G, M, V] = [gpu.upload(p0, 'params'), gpu.alloc(N, 'grads'), gpu.upload(new Float32Array(N), 'm'), gpu.upload(new Float32Array(N), 'v')];
    for (let step = 1; step <= 5; step++) {
      // Gradients of mixed scale, as real ones are: the second moment then differs per element.
      const g = rng.floats(N).map((x, i) => x * (i % 7 === 0 ? 1e-3 : 1));
      gpu.write(G, g);
      adamw(gpu, { params: P, grads: G, m: M, v: V, segments, step, hyper: HYPER });
      adamwRef(ref, g, segments, step, HYPER);
    }
    const got = await gpu.read(P, N);
    expectClose(got, ref.param, STEP_TOL, 'params after 5 steps');
    expectClose(await gpu.read(M, N), ref.m, STEP_TOL, 'm after 5 steps');
    expectClose(await gpu.read(V, N), ref.v, STEP_TOL, 'v after 5 steps');
    expect([...got.subarray(650, 700)], 'the gap is untouched').toEqual([...p0.subarray(650, 700)]);
    for (const b of [P, G, M, V]) gpu.release(b);
  });

  it('updates tensors in buffers of their own, each with its decay flag', async () => {
    const rng = testRng(2);
    const lengths = [1, 67];
    const tensors = lengths.map((n, i) => {
      const p = rng.floats(n);
      const g = rng.floats(n);
      return { p, g, ref: refState(p), buf: { params: gpu.upload(p, 'p'), grads: gpu.upload(g, 'g'), m: gpu.upload(new Float32Array(n), 'm'), v: gpu.upload(new Float32Array(n), 'v'), length: n, decay: i === 1 } };
    });
    adamwList(gpu, tensors.map((t) => t.buf), 1, HYPER);
    for (const t of tensors) {
      adamwRef(t.ref, t.g, [{ offset: 0, length: t.buf.length, decay: t.buf.decay }], 1, HYPER);
      expectClose(await gpu.read(t.buf.params, t.buf.length), t.ref.param, STEP_TOL, `tensor of ${t.buf.length}`);
      for (const b of [t.buf.params, t.buf.grads, t.buf.m, t.buf.v]) gpu.release(b);
    }
  });

  it('merges adjacent segments with the same flag', () => {
    const runs = mergeSegments('t', [{ offset: 5, length: 2, decay: true }, { offset: 0, length: 5, decay: true }, { offset: 7, length: 1, decay: false }, { offset: 9, length: 1, decay: false }]);
    expect(runs).toEqual([{ offset: 0, length: 7, decay: true }, { offset: 7, length: 1, decay: false }, { offset: 9, length: 1, decay: false }]);
  });
});

describe('gradient norm, clipping, finite check', () => {
  // Lengths: 1, one past a partial chunk (4096), a prime over two chunks; one slice at an offset.
  const LENGTHS = [1, 4097, 10007];

  async function setup(salt: number, scale = 1) {
    const rng = testRng(salt);
    const gs = LENGTHS.map((n) => rng.floats(n, -scale, scale));
    const A = gpu.upload(new Float32Array([...gs[0]!, ...gs[1]!]), 'gradsA');
    const B = gpu.upload(new Float32Array([9, 9, 9, ...gs[2]!]), 'gradsB'); // 3 floats before the slice
    const slices = [{ buffer: A, length: 1 }, { buffer: A, offset: 1, length: 4097 }, { buffer: B, offset: 3, length: 10007 }];
    return { rng, gs, A, B, slices, release: () => [A, B].forEach((b) => gpu.release(b)) };
  }

  it('clips in place as clip_grad_norm_, bitwise the same on every run', async () => {
    for (const [maxNorm, salt] of [[1e6, 3], [2.5, 4]] as const) {
      const { gs, A, B, slices, release } = await setup(salt);
      const want = gradNormRef(gs, maxNorm);
      const stats = poisoned(gpu, STATS_FLOATS, 'stats');
      gradNorm(gpu, slices, stats, maxNorm);
      const first = await gpu.read(stats, STATS_FLOATS);
      clipGradNorm(gpu, slices, maxNorm, stats);
      const got = await gpu.read(stats, STATS_FLOATS);
      expect([...got], 'two runs, same bits').toEqual([...first]);
      expectClose(got.subarray(0, 2), [want.norm, want.scale], NORM_TOL, `norm and scale, maxNorm ${maxNorm}`);
      expect(got[2], 'finite').toBe(0);
      const a = await gpu.read(A, 4098);
      const b = await gpu.read(B, 10010);
      const scaled = (g: Float32Array) => Float64Array.from(g, (x) => x * want.scale);
      expectClose(a, [...scaled(gs[0]!), ...scaled(gs[1]!)], { atol: 0, rtol: 2e-5 }, 'clipped A');
      expectClose(b, [9, 9, 9, ...scaled(gs[2]!)], { atol: 0, rtol: 2e-5 }, 'clipped B, bytes before the slice untouched');
      gpu.release(stats);
      release();
    }
  });

  it('fuses the clip scale into the AdamW update', async () => {
    const { rng, gs, B, release } = await setup(5, 3);
    const n = 10007;
    const p0 = rng.floats(n);
    const ref = refState(p0);
    const [P, M, V, stats] = [gpu.upload(p0, 'p'), gpu.upload(new Float32Array(n), 'm'), gpu.upload(new Float32Array(n), 'v'), gpu.alloc(STATS_FLOATS, 'stats')];
    const G = gpu.upload(gs[2]!, 'g');
    gradNorm(gpu, [{ buffer: B, offset: 3, length: n }], stats, 1.0);
    adamw(gpu, { params: P, grads: G, m: M, v: V, segments: [{ offset: 0, length: n, decay: true }], step: 1, hyper: HYPER, clip: stats });
    const s = await gpu.read(stats, STATS_FLOATS);
    expect(s[1]!, 'clipping is active').toBeLessThan(0.1);
    // The reference uses the GPU's f32 scale: the norm itself is checked above.
    adamwRef(ref, gs[2]!, [{ offset: 0, length: n, decay: true }], 1, HYPER, s[1]!);
    expectClose(await gpu.read(M, n), ref.m, STEP_TOL, 'm with clipped gradients');
    expectClose(await gpu.read(P, n), ref.param, STEP_TOL, 'params with clipped gradients');
    for (const b of [P, M, V, stats, G]) gpu.release(b);
    release();
  });

  it('reports NaN and Inf anywhere with a 4-byte readback', async () => {
    const { A, B, slices, release } = await setup(6);
    const stats = poisoned(gpu, STATS_FLOATS, 'stats');
    gradNorm(gpu, slices, stats);
    expect(await readNonFinite(gpu, stats), 'clean gradients').toBe(false);
    for (const [buf, at, bad] of [[B, 3 + 10006, NaN], [A, 0, Infinity], [A, 2000, -Infinity]] as const) {
      const keep = (await gpu.read(buf, 1, at))[0]!;
      gpu.write(buf, new Float32Array([bad]), at * 4);
      gradNorm(gpu, slices, stats);
      expect(await readNonFinite(gpu, stats), `${bad} at ${at}`).toBe(true);
      gpu.write(buf, new Float32Array([keep]), at * 4);
    }
    gpu.write(A, new Float32Array([1e30]), 5 * 4); // finite, but its square overflows the sum
    gradNorm(gpu, slices, stats);
    expect(await readNonFinite(gpu, stats), 'overflowing norm').toBe(true);
    gpu.release(stats);
    release();
  });
});

describe('adamw bad input', () => {
  it('names the segment, range, step or buffer that is wrong', () => {
    const [P, G, M, V] = ['p', 'g', 'm', 'v'].map((l) => gpu.alloc(16, l)) as [GPUBuffer, GPUBuffer, GPUBuffer, GPUBuffer];
    const call = (segments: AdamWSegment[], step = 1, m = M) => () => adamw(gpu, { params: P, grads: G, m, v: V, segments, step, hyper: HYPER });
    expect(call([{ offset: 0, length: 10, decay: true }, { offset: 8, length: 4, decay: false }])).toThrow(/segment \[8, 12\) overlaps \[0, 10\)/);
    expect(call([{ offset: 60, length: 10, decay: true }])).toThrow(/params range \[60, 70\) needs 10 floats from offset 60 but its buffer "p" holds 64/);
    expect(call([{ offset: 0, length: 4, decay: true }], 0)).toThrow(/step 0 must be an integer ≥ 1/);
    expect(call([{ offset: 0, length: 4, decay: true }], 1, P)).toThrow(/params, grads, m and v need four different buffers/);
    expect(() => gradNorm(gpu, [{ buffer: G, length: 4 }], G)).toThrow(/stats must not share a buffer with the gradients/);
    for (const b of [P, G, M, V]) gpu.release(b);
  });
});
