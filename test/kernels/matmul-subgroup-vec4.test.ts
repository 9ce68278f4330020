// The subgroup matmul reads A stored [K, M] (VEC4A) and B stored [K, N] (VEC4B) as vec4s, a lane's
// four neighbouring rows or columns of one k in one load, where M or N and the offsets and row
// lengths are multiples of 4. Against float64 in every layout at awkward sizes (tails past the
// 32-row and 128-column tiles, K = 1 and primes), A and B at offsets inside NaN-filled buffers,
// batched, C poisoned; the same bits as the scalar loads (COCA_SG_VEC4=0) with bias, alpha,
// accumulation, both GELU epilogues and the row sums of dW = dyᵀ·x, since a training step's bits
// must not depend on how its operands were loaded; and the scalar loads kept wherever a vec4
// would straddle 16 bytes or run past M or N.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { matmul, matmulVariantAvailable } from '../../kernels/matmul.ts';
import { matmulRef, matmulTolerance } from '../../kernels/matmul.ref.ts';
import { expectClose } from '../helpers/close.ts';
import { kernelKeys } from '../helpers/dispatches.ts';
import { placed, poisoned, testGpu } from '../helpers/gpu.ts';
import { testRng } from '../helpers/seed.ts';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.pool.trim());
afterEach(() => {
  delete process.env.COCA_SG_VEC4;
});

interface Case {
  M: number;
  N: number;
  K: number;
  transA?: boolean;
  transB?: boolean;
  batch?: number;
  offA?: number;
  offB?: number;
  bias?: boolean;
  accumulate?: boolean;
  gelu?: 'apply' | 'grad';
  rowSum?: boolean;
}

/** Runs the case; returns C (with the row sums or the pre-activation), float64's C, and the kernel keys dispatched. */
async function run(c: Case, salt: number, vec4: boolean) {
  process.env.COCA_SG_VEC4 = vec4 ? '1' : '0';
  const rng = testRng(salt);
  const { M, N, K } = c;
  const [transA, transB] = [!!c.transA, !!c.transB];
  const batch = c.batch ?? 1;
  const [offA, offB] = [c.offA ?? 0, c.offB ?? 0];
  const a = rng.floats(batch * M * K);
  const b = rng.floats(batch * K * N);
  const bias = c.bias ? rng.floats(N) : undefined;
  const c0 = c.accumulate ? rng.floats(batch * M * N) : undefined;
  const A = placed(gpu, a, offA, 'A');
  const B = placed(gpu, b, offB, 'B');
  const Bias = bias ? gpu.upload(bias, 'bias') : undefined;
  // Row sums go past C's end in C's own buffer.
  const cFloats = batch * M * N + (c.rowSum ? M : 0);
  const C = c0 ? gpu.upload(Float32Array.from({ length: cFloats }, (_, i) => c0[i] ?? 0), 'C') : poisoned(gpu, cFloats, 'C');
  const preact = c.gelu === 'grad' ? rng.floats(batch * M * N) : undefined;
  const P = c.gelu === 'apply' ? poisoned(gpu, batch * M * N, 'preact') : preact ? gpu.upload(preact, 'preact') : undefined;
  const shape = (rows: number, cols: number) => (batch > 1 ? [batch, rows, cols] : [rows, cols]);
  const keys = kernelKeys(gpu, () =>
    matmul(gpu, {
      a: { buffer: A, shape: transA ? shape(K, M) : shape(M, K), offset: offA },
      b: { buffer: B, shape: transB ? shape(N, K) : shape(K, N), offset: offB },
      c: { buffer: C, shape: shape(M, N) },
      transA,
      transB,
      bias: Bias ? { buffer: Bias } : undefined,
      alpha: 0.75,
      accumulate: c.accumulate,
      gelu: P ? { mode: c.gelu!, preact: { buffer: P } } : undefined,
      rowSumA: c.rowSum ? { offset: batch * M * N } : undefined,
      variant: 'subgroup',
    }),
  );
  const got = await gpu.read(C, cFloats);
  const pre = c.gelu === 'apply' ? await gpu.read(P!, batch * M * N) : undefined;
  for (const x of [A, B, Bias, C, P]) if (x) gpu.release(x);
  const want = c.gelu ? null : matmulRef(a, b, { M, N, K, batch, transA, transB }, { alpha: 0.75, bias, accumulate: c0 });
  return { got, pre, want, keys, a };
}

const loads = (keys: string[]) => ({ a: keys.some((k) => k.includes('VEC4A=true')), b: keys.some((k) => k.includes('VEC4B=true')) });

it('this adapter runs the subgroup variant with 4 rows per lane or more (so the cases below test VEC4A)', () => {
  expect(matmulVariantAvailable(gpu, 'subgroup')).toBe(true);
  expect(32 / gpu.subgroupSize).toBeGreaterThanOrEqual(4);
});

describe('matmul subgroup reading A stored [K, M] and B stored [K, N] as vec4s', () => {
  it('matches float64 in every layout at awkward sizes, at offsets and batched', async () => {
    const cases: Case[] = [
      { M: 4, N: 4, K: 1, transA: true },
      { M: 36, N: 52, K: 7 },
      { M: 36, N: 52, K: 7, transA: true, offA: 4, offB: 8 },
      { M: 100, N: 260, K: 33, transA: true, transB: true, offA: 12 },
      { M: 44, N: 132, K: 131, transA: true, bias: true, accumulate: true },
      { M: 68, N: 20, K: 13, batch: 3, transA: true, offB: 4 },
      { M: 33, N: 136, K: 5, batch: 2, offA: 3 },
    ];
    for (const [i, c] of cases.entries()) {
      const { got, want, keys } = await run(c, 4100 + i, true);
      expect(loads(keys), `case ${i}: ${keys}`).toEqual({ a: !!c.transA, b: !c.transB });
      expectClose(got, want!, matmulTolerance(c.K), `case ${i} [${c.M}, ${c.N}, ${c.K}]`);
    }
  });

  it('gives the scalar loads’ bits, with bias, accumulation, both GELU epilogues and the row sums of dW', async () => {
    const cases: Case[] = [
      { M: 512, N: 128, K: 37, transA: true, rowSum: true },
      { M: 132, N: 68, K: 29, transA: true, rowSum: true, accumulate: true },
      { M: 60, N: 516, K: 19, gelu: 'apply', bias: true },
      { M: 76, N: 140, K: 23, gelu: 'grad', offB: 4 },
      { M: 36, N: 12, K: 3, transA: true, transB: true, gelu: 'grad' },
      { M: 8, N: 264, K: 11, batch: 2, transA: true, bias: true, offA: 8 },
    ];
    for (const [i, c] of cases.entries()) {
      const v = await run(c, 4200 + i, true);
      const s = await run(c, 4200 + i, false);
      expect(loads(v.keys), `case ${i}: ${v.keys}`).toEqual({ a: !!c.transA, b: !c.transB });
      expect(loads(s.keys), `case ${i}: scalar`).toEqual({ a: false, b: false });
      expect(v.got.every(Number.isFinite), `case ${i}: finite`).toBe(true);
      expect(Array.from(v.got), `case ${i}: C bits`).toEqual(Array.from(s.got));
      if (c.gelu === 'apply') expect(Array.from(v.pre!), `case ${i}: pre-activation bits`).toEqual(Array.from(s.pre!));
      if (c.rowSum) {
        // op(A) = Aᵀ: row m sums A[k, m] over k.
        const { M, K } = c;
        const sums = Array.from({ length: M }, (_, m) => {
          let t = 0;
          for (let k = 0; k < K; k++) t += v.a[k * M + m]!;
          return t;
        });
        expectClose(v.got.subarray(M * c.N), Float64Array.from(sums), matmulTolerance(K), `case ${i}: row sums`);
      }
    }
  });

  it('keeps scalar loads where a vec4 would straddle 16 bytes or run past M or N', async () => {
    const cases: [Case, { a: boolean; b: boolean }][] = [
      [{ M: 37, N: 52, K: 8, transA: true }, { a: false, b: true }],
      [{ M: 36, N: 53, K: 8, transA: true }, { a: true, b: false }],
      [{ M: 36, N: 52, K: 8, transA: true, offA: 2, offB: 2 }, { a: false, b: false }],
      [{ M: 36, N: 52, K: 8, batch: 2, offB: 6 }, { a: false, b: false }],
    ];
    for (const [i, [c, want]] of cases.entries()) {
      const r = await run(c, 4300 + i, true);
      expect(loads(r.keys), `case ${i}: ${r.keys}`).toEqual(want);
      expectClose(r.got, r.want!, matmulTolerance(c.K), `case ${i}`);
    }
  });
});
