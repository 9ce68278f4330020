// The check both matmul-with-a-layernorm-prologue tests run (skinny for decoding, subgroup for
// training): the product of layernorm(A) at offsets, with bias, alpha, accumulation or the GELU
// epilogue, against float64 layernorm-then-product; with `out` also the normalised rows, means
// and 1/σ the subgroup kernel writes for a backward, and nothing written outside them.
import { expect } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { layernormRef, layernormTolerance } from '../../kernels/layernorm.ref.ts';
import { matmul, matmulVariantAvailable, type MatmulVariant } from '../../kernels/matmul.ts';
import { matmulRef, matmulTolerance } from '../../kernels/matmul.ref.ts';
import { geluRef } from '../../kernels/pointwise.ref.ts';
import { expectClose } from './close.ts';
import { placed, poisoned } from './gpu.ts';
import { testRng } from './seed.ts';

/** The subgroup variant (and so its layernorm prologue) runs here: CI's lavapipe has a fixed subgroup size (8). */
export function requireSubgroupVariant(gpu: Gpu): void {
  expect(matmulVariantAvailable(gpu, 'subgroup'), `subgroup size ${gpu.subgroupSize}`).toBe(true);
}

/** A layernorm's inputs: rows with an offset and a spread, so centring and scaling both matter. */
export function lnInputs(rng: ReturnType<typeof testRng>, M: number, K: number) {
  const x = new Float32Array(M * K);
  for (let m = 0; m < M; m++) {
    const shift = 3 * rng.floats(1)[0]!;
    const scale = 0.5 + 2 * Math.abs(rng.floats(1)[0]!);
    for (let k = 0; k < K; k++) x[m * K + k] = Math.fround(shift + scale * rng.floats(1)[0]!);
  }
  return { x, gamma: rng.floats(K), beta: rng.floats(K) };
}

export interface PrologueCase {
  shape: [number, number, number];
  transB?: boolean;
  bias?: boolean;
  alpha?: number;
  accumulate?: boolean;
  gelu?: boolean;
  /** Offsets (floats) of A, γ and β in their buffers, the rest of each buffer NaN. */
  offsets?: [number, number, number];
  /** Where the layernorm's outputs go (floats) in one NaN-filled buffer of `size`. */
  out?: { y: number; mean: number; rstd: number; size: number };
}

/** The layernorm's outputs packed as prenorm.ts packs them: rows, then means, then 1/σ. */
export const packedOut = (M: number, K: number) => ({ y: 0, mean: M * K, rstd: M * K + M, size: M * K + 2 * M });

export async function checkPrologueCase(gpu: Gpu, c: PrologueCase, salt: number, variant?: MatmulVariant): Promise<void> {
  const rng = testRng(salt);
  const [M, N, K] = c.shape;
  const { x, gamma, beta } = lnInputs(rng, M, K);
  const b = rng.floats(K * N);
  const bias = c.bias ? rng.floats(N) : undefined;
  const c0 = c.accumulate ? rng.floats(M * N) : undefined;
  const [oA, oG, oB] = c.offsets ?? [0, 0, 0];
  const o = c.out;
  const A = placed(gpu, x, oA, 'A');
  const G = placed(gpu, gamma, oG, 'gamma');
  const Be = placed(gpu, beta, oB, 'beta');
  const B = gpu.upload(b, 'B');
  const Bias = bias ? gpu.upload(bias, 'bias') : undefined;
  const C = c0 ? gpu.upload(c0, 'C') : poisoned(gpu, M * N, 'C');
  const P = c.gelu ? poisoned(gpu, M * N, 'preact') : undefined;
  const Out = o ? poisoned(gpu, o.size, 'ln out') : undefined;
  matmul(gpu, {
    a: { buffer: A, shape: [M, K], offset: oA },
    b: { buffer: B, shape: c.transB ? [N, K] : [K, N] },
    c: { buffer: C, shape: [M, N] },
    bias: Bias ? { buffer: Bias } : undefined,
    alpha: c.alpha,
    accumulate: c.accumulate,
    transB: c.transB,
    gelu: P ? { mode: 'apply', preact: { buffer: P } } : undefined,
    layernorm: { gamma: { buffer: G, offset: oG }, beta: { buffer: Be, offset: oB }, ...(o && Out ? { out: { buffer: Out, y: o.y, mean: o.mean, rstd: o.rstd } } : {}) },
    variant,
  });
  const got = await gpu.read(C, M * N);
  const pre = P ? await gpu.read(P, M * N) : undefined;
  const out = o && Out ? await gpu.read(Out, o.size) : undefined;
  for (const buf of [A, G, Be, B, Bias, C, P, Out]) if (buf) gpu.release(buf);
  const ref = layernormRef(x, gamma, beta, M, K);
  const v = matmulRef(ref.y, b, { M, N, K, batch: 1, transA: false, transB: !!c.transB }, { alpha: c.alpha, bias, accumulate: c0 });
  // Normalised rows reach |y| ≈ 4 (x̂ up to ~3, |γ|, |β| ≤ 1): four times matmul's bound on inputs ≤ 1.
  const base = matmulTolerance(K);
  const tol = { atol: 4 * base.atol, rtol: base.rtol };
  const what = `[${c.shape}]${c.transB ? ' Bᵀ' : ''}${c.gelu ? ' +gelu' : ''}`;
  if (pre) {
    expectClose(pre, v, tol, `${what}: pre-activation`);
    expectClose(got, geluRef(v), { atol: 1.2 * tol.atol, rtol: tol.rtol }, `${what}: gelu`);
  } else {
    expectClose(got, v, tol, what);
  }
  if (!o || !out) return;
  const lt = layernormTolerance(M, K);
  // Inputs reach |x| ≈ 6 here (layernormTolerance assumes ≤ 2): three times its bound on y.
  expectClose(out.subarray(o.y, o.y + M * K), ref.y, { atol: 3 * lt.y.atol, rtol: lt.y.rtol }, `${what}: normalised rows`);
  expectClose(out.subarray(o.mean, o.mean + M), ref.mean, { atol: 4 * lt.stats.atol, rtol: lt.stats.rtol }, `${what}: means`);
  expectClose(out.subarray(o.rstd, o.rstd + M), ref.rstd, { atol: 4 * lt.stats.atol, rtol: lt.stats.rtol }, `${what}: 1/σ`);
  // Nothing written outside the three ranges.
  const inside = (i: number) => (i >= o.y && i < o.y + M * K) || (i >= o.mean && i < o.mean + M) || (i >= o.rstd && i < o.rstd + M);
  const stray = [...out.keys()].filter((i) => !inside(i) && !Number.isNaN(out[i]!));
  expect(stray, `${what}: writes outside y, mean, rstd`).toEqual([]);
}
