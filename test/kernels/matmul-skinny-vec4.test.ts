// skinny reads Bᵀ [N, K] four k at a time (VEC4B) where K and B's offset are multiples of 4, and
// with a layernorm prologue also shares its A, γ and β loads across each subgroup (SG_A,
// matmul_skinny_sg.wgsl). Against float64 at awkward N and rows, K from 4 to 516, B at an offset
// inside a NaN-filled buffer and batched with a stride, C poisoned; the same bits as the scalar
// loop (COCA_VEC4B=0) with bias, alpha, accumulation, the GELU epilogue and the layernorm prologue
// (K not a multiple of the subgroup, lanes past N), since a decoding step's equality to
// recomputation rests on every variant summing each column over k in the same order; and the
// scalar loop kept wherever a run of four would straddle a 16-byte boundary.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { matmul, skinnyShufflesA } from '../../kernels/matmul.ts';
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
  delete process.env.COCA_VEC4B;
});

interface Case {
  M: number;
  N: number;
  K: number;
  batch?: number;
  offB?: number;
  bias?: boolean;
  accumulate?: boolean;
  gelu?: boolean;
  ln?: boolean;
}

/** Runs the case; returns C (and the pre-activation), float64's C, and the kernel keys dispatched. */
async function run(c: Case, salt: number, vec4: boolean) {
  process.env.COCA_VEC4B = vec4 ? '1' : '0';
  const rng = testRng(salt);
  const { M, N, K } = c;
  const batch = c.batch ?? 1;
  const offB = c.offB ?? 0;
  const a = rng.floats(batch * M * K);
  const b = rng.floats(batch * N * K);
  const bias = c.bias ? rng.floats(N) : undefined;
  const c0 = c.accumulate ? rng.floats(batch * M * N) : undefined;
  const gamma = rng.floats(K);
  const beta = rng.floats(K);
  const A = gpu.upload(a, 'A');
  const B = placed(gpu, b, offB, 'B');
  const Bias = bias ? gpu.upload(bias, 'bias') : undefined;
  const C = c0 ? gpu.upload(c0, 'C') : poisoned(gpu, batch * M * N, 'C');
  const P = c.gelu ? poisoned(gpu, batch * M * N, 'preact') : undefined;
  const G = gpu.upload(gamma, 'gamma');
  const Be = gpu.upload(beta, 'beta');
  const keys = kernelKeys(gpu, () =>
    matmul(gpu, {
      a: { buffer: A, shape: batch > 1 ? [batch, M, K] : [M, K] },
      b: { buffer: B, shape: batch > 1 ? [batch, N, K] : [N, K], offset: offB },
      c: { buffer: C, shape: batch > 1 ? [batch, M, N] : [M, N] },
      transB: true,
      bias: Bias ? { buffer: Bias } : undefined,
      alpha: 0.75,
      accumulate: c.accumulate,
      gelu: P ? { mode: 'apply', preact: { buffer: P } } : undefined,
      layernorm: c.ln ? { gamma: { buffer: G }, beta: { buffer: Be } } : undefined,
      variant: 'skinny',
    }),
  );
  const got = await gpu.read(C, batch * M * N);
  const pre = P ? await gpu.read(P, batch * M * N) : undefined;
  for (const x of [A, B, Bias, C, P, G, Be]) if (x) gpu.release(x);
  const want = c.ln || c.gelu ? null : matmulRef(a, b, { M, N, K, batch, transA: false, transB: true }, { alpha: 0.75, bias, accumulate: c0 });
  return { got, pre, want, keys };
}

const vec4Used = (keys: string[]) => keys.length === 1 && keys[0]!.includes('VEC4B=true');

it('lavapipe has the whole subgroups the sharing needs (so the cases below test it)', () => {
  expect(gpu.subgroupSize).toBe(8);
  expect([37, 128, 512, 2047].map((n) => skinnyShufflesA(gpu, n))).toEqual([true, true, true, true]);
});

describe('matmul skinny reading Bᵀ as vec4s', () => {
  it('matches float64 at awkward N and rows, K from 4 to 516, B at an offset and batched', async () => {
    const cases: Case[] = [
      { M: 1, N: 1, K: 4 },
      { M: 1, N: 5, K: 8, offB: 4 },
      { M: 3, N: 13, K: 132, bias: true },
      { M: 1, N: 131, K: 128, offB: 12, accumulate: true },
      { M: 8, N: 67, K: 516 },
      { M: 5, N: 29, K: 36, batch: 3, offB: 8 },
      { M: 1, N: 384, K: 128, bias: true },
    ];
    for (const [i, c] of cases.entries()) {
      const { got, want, keys } = await run(c, 3100 + i, true);
      expect(vec4Used(keys), `case ${i}: ${keys}`).toBe(true);
      expectClose(got, want!, matmulTolerance(c.K), `case ${i} [${c.M}, ${c.N}, ${c.K}]`);
    }
  });

  it('gives the scalar loop’s bits, with bias, accumulation, GELU and the layernorm prologue', async () => {
    const cases: Case[] = [
      { M: 1, N: 128, K: 128, bias: true },
      { M: 1, N: 512, K: 128, gelu: true, ln: true, bias: true },
      { M: 1, N: 384, K: 128, ln: true },
      { M: 1, N: 128, K: 512, accumulate: true },
      { M: 7, N: 37, K: 20, gelu: true, offB: 4 },
      { M: 2, N: 9, K: 44, batch: 2, bias: true },
      { M: 3, N: 37, K: 20, ln: true, gelu: true, offB: 8 },
      { M: 1, N: 2047, K: 132, ln: true, bias: true },
      { M: 8, N: 5, K: 12, ln: true, accumulate: true },
    ];
    for (const [i, c] of cases.entries()) {
      const v = await run(c, 3200 + i, true);
      const s = await run(c, 3200 + i, false);
      expect(vec4Used(v.keys), `case ${i}`).toBe(true);
      // The subgroup sharing comes with the layernorm prologue, where the adapter has whole subgroups.
      const shuffles = !!c.ln && gpu.subgroupSize > 0 && skinnyShufflesA(gpu, c.N);
      expect(v.keys[0]!.startsWith('matmul_skinny_sg:'), `case ${i}: ${v.keys[0]}`).toBe(shuffles);
      expect(s.keys.some((k) => k.includes('VEC4B') || k.startsWith('matmul_skinny_sg:')), `case ${i}: scalar`).toBe(false);
      expect(v.got.every(Number.isFinite), `case ${i}: finite`).toBe(true);
      expect(Array.from(v.got), `case ${i}: C bits`).toEqual(Array.from(s.got));
      if (c.gelu) expect(Array.from(v.pre!), `case ${i}: pre-activation bits`).toEqual(Array.from(s.pre!));
    }
  });

  it('keeps the scalar loop where a run of four would straddle 16 bytes (K or B’s offset not a multiple of 4)', async () => {
    for (const [i, c] of ([{ M: 1, N: 7, K: 37 }, { M: 2, N: 7, K: 36, offB: 2 }, { M: 1, N: 7, K: 6 }] as Case[]).entries()) {
      const { got, want, keys } = await run(c, 3300 + i, true);
      expect(keys.some((k) => k.includes('VEC4B')), `case ${i}: ${keys}`).toBe(false);
      expectClose(got, want!, matmulTolerance(c.K), `case ${i}`);
    }
  });
});
