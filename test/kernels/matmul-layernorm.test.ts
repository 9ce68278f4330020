// The matmul with a layernorm prologue (matmul_skinny with LN: op(A) = layernorm of A's rows)
// against float64 layernorm-then-product, at row counts 1–9 (every skinny row block, clamped rows),
// K below, at and past the register row's edges, N off the 256-column workgroup; with bias, alpha,
// accumulation, the GELU epilogue, transposed B and operands at offsets; outputs poisoned. And the
// property decoding relies on: its result is the bits of the layernorm kernel followed by the
// plain skinny product.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { MAX_ROW } from '../../kernels/common.ts';
import { layernorm } from '../../kernels/layernorm.ts';
import { layernormRef } from '../../kernels/layernorm.ref.ts';
import { chooseMatmulVariant, matmul, matmulFusesLayernorm } from '../../kernels/matmul.ts';
import { matmulRef, matmulTolerance } from '../../kernels/matmul.ref.ts';
import { geluRef } from '../../kernels/pointwise.ref.ts';
import { expectClose } from '../helpers/close.ts';
import { placed, poisoned, testGpu } from '../helpers/gpu.ts';
import { testRng } from '../helpers/seed.ts';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.pool.trim());

// [M, N, K]: one row, every skinny row block with M just past it (3 → 4, 5 → 8, 9: two blocks,
// clamped rows), K = 1 (a constant row: x̂ = 0, y = β), K off the 4-wide vec4s and past one and
// two register rows (64 and 128 floats), N off SN and past the 256-column workgroup. K stays
// small: each register-row size is a pipeline, and lavapipe compiles the wide ones for minutes.
const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [1, 257, 3],
  [2, 67, 37],
  [3, 259, 17],
  [5, 6, 65],
  [8, 31, 130],
  [9, 11, 23],
  [1, 7, 67],
];

interface Case {
  shape: [number, number, number];
  transB?: boolean;
  bias?: boolean;
  alpha?: number;
  accumulate?: boolean;
  gelu?: boolean;
  /** Offsets (floats) of A, γ and β in their buffers, the rest of each buffer NaN. */
  offsets?: [number, number, number];
}

/** A layernorm's inputs: rows with an offset and a spread, so centring and scaling both matter. */
function lnInputs(rng: ReturnType<typeof testRng>, M: number, K: number) {
  const x = new Float32Array(M * K);
  for (let m = 0; m < M; m++) {
    const shift = 3 * rng.floats(1)[0]!;
    const scale = 0.5 + 2 * Math.abs(rng.floats(1)[0]!);
    for (let k = 0; k < K; k++) x[m * K + k] = Math.fround(shift + scale * rng.floats(1)[0]!);
  }
  return { x, gamma: rng.floats(K), beta: rng.floats(K) };
}

async function runCase(c: Case, salt: number): Promise<void> {
  const rng = testRng(salt);
  const [M, N, K] = c.shape;
  const { x, gamma, beta } = lnInputs(rng, M, K);
  const b = rng.floats(K * N);
  const bias = c.bias ? rng.floats(N) : undefined;
  const c0 = c.accumulate ? rng.floats(M * N) : undefined;
  const [oA, oG, oB] = c.offsets ?? [0, 0, 0];
  const A = placed(gpu, x, oA, 'A');
  const G = placed(gpu, gamma, oG, 'gamma');
  const Be = placed(gpu, beta, oB, 'beta');
  const B = gpu.upload(b, 'B');
  const Bias = bias ? gpu.upload(bias, 'bias') : undefined;
  const C = c0 ? gpu.upload(c0, 'C') : poisoned(gpu, M * N, 'C');
  const P = c.gelu ? poisoned(gpu, M * N, 'preact') : undefined;
  matmul(gpu, {
    a: { buffer: A, shape: [M, K], offset: oA },
    b: { buffer: B, shape: c.transB ? [N, K] : [K, N] },
    c: { buffer: C, shape: [M, N] },
    bias: Bias ? { buffer: Bias } : undefined,
    alpha: c.alpha,
    accumulate: c.accumulate,
    transB: c.transB,
    gelu: P ? { mode: 'apply', preact: { buffer: P } } : undefined,
    layernorm: { gamma: { buffer: G, offset: oG }, beta: { buffer: Be, offset: oB } },
  });
  const got = await gpu.read(C, M * N);
  const pre = P ? await gpu.read(P, M * N) : undefined;
  for (const buf of [A, G, Be, B, Bias, C, P]) if (buf) gpu.release(buf);
  const y = layernormRef(x, gamma, beta, M, K).y;
  const v = matmulRef(y, b, { M, N, K, batch: 1, transA: false, transB: !!c.transB }, { alpha: c.alpha, bias, accumulate: c0 });
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
}

describe('matmul with a layernorm prologue', () => {
  it('matches float64 layernorm-then-product at awkward shapes, B stored either way', async () => {
    for (let i = 0; i < SHAPES.length; i++) await runCase({ shape: SHAPES[i]!, transB: i % 2 === 1 }, 70 + i);
  });

  it('with bias and alpha, accumulating into C, and with the GELU epilogue, operands at offsets', async () => {
    await runCase({ shape: [3, 41, 29], transB: true, bias: true, alpha: 0.75, offsets: [5, 3, 7] }, 80);
    await runCase({ shape: [1, 263, 131], bias: true, accumulate: true, offsets: [1, 0, 2] }, 81);
    await runCase({ shape: [2, 97, 47], transB: true, bias: true, gelu: true, offsets: [3, 1, 0] }, 82);
  });

  it('gives the bits of the layernorm kernel followed by the plain skinny product', async () => {
    // Decoding with the KV cache (fused) is held bit for bit to recomputation (layernorm, then the
    // product): the prologue must sum in the layernorm kernel's order.
    for (const [i, [M, N, K]] of ([[1, 300, 128], [4, 37, 61], [6, 9, 130]] as const).entries()) {
      const rng = testRng(90 + i);
      const { x, gamma, beta } = lnInputs(rng, M, K);
      const w = rng.floats(N * K);
      const bias = rng.floats(N);
      const [A, G, Be, W, Bias] = [x, gamma, beta, w, bias].map((d, j) => gpu.upload(d, `in${j}`)) as [GPUBuffer, GPUBuffer, GPUBuffer, GPUBuffer, GPUBuffer];
      const Y = poisoned(gpu, M * K, 'y');
      const [mean, rstd] = [poisoned(gpu, M, 'mean'), poisoned(gpu, M, 'rstd')];
      const [C1, C2] = [poisoned(gpu, M * N, 'fused'), poisoned(gpu, M * N, 'apart')];
      const common = { b: { buffer: W, shape: [N, K] }, transB: true, bias: { buffer: Bias }, variant: 'skinny' as const };
      matmul(gpu, { ...common, a: { buffer: A, shape: [M, K] }, c: { buffer: C1, shape: [M, N] }, layernorm: { gamma: { buffer: G }, beta: { buffer: Be } } });
      layernorm(gpu, { x: { buffer: A, shape: [M, K] }, gamma: { buffer: G, shape: [K] }, beta: { buffer: Be, shape: [K] }, y: { buffer: Y, shape: [M, K] }, mean: { buffer: mean, shape: [M] }, rstd: { buffer: rstd, shape: [M] } });
      matmul(gpu, { ...common, a: { buffer: Y, shape: [M, K] }, c: { buffer: C2, shape: [M, N] } });
      const [fused, apart] = [await gpu.read(C1, M * N), await gpu.read(C2, M * N)];
      for (const buf of [A, G, Be, W, Bias, Y, mean, rstd, C1, C2]) gpu.release(buf);
      expect(fused.every(Number.isFinite), `[${M}, ${N}, ${K}] finite`).toBe(true);
      expect(Array.from(fused), `[${M}, ${N}, ${K}]`).toEqual(Array.from(apart));
    }
  });

  it('is offered exactly where the heuristic picks skinny; refuses transposed A, other variants and rows past MAX_ROW in one line', () => {
    for (const [M, N, K] of [[1, 2048, 128], [8, 512, 512], [9, 512, 512], [1, 4, 4]] as const) {
      expect(matmulFusesLayernorm(gpu, M, N, K), `${M}x${N}x${K}`).toBe(chooseMatmulVariant(gpu, M, N, K) === 'skinny');
    }
    expect(matmulFusesLayernorm(gpu, 1, 64, MAX_ROW + 1)).toBe(false);
    const [A, B, C, G] = [gpu.alloc(MAX_ROW + 8, 'A'), gpu.alloc(4 * (MAX_ROW + 8), 'B'), gpu.alloc(64, 'C'), gpu.alloc(MAX_ROW + 8, 'G')];
    const layernormArg = { gamma: { buffer: G }, beta: { buffer: G } };
    const call = { a: { buffer: A, shape: [4, 4] }, b: { buffer: B, shape: [4, 4] }, c: { buffer: C, shape: [4, 4] }, layernorm: layernormArg };
    expect(() => matmul(gpu, { ...call, transA: true })).toThrow(/layernorm prologue normalises rows of A.*give A untransposed/);
    expect(() => matmul(gpu, { ...call, variant: 'regblock' })).toThrow(/layernorm prologue needs the skinny variant, not regblock/);
    expect(() => matmul(gpu, { ...call, a: { buffer: A, shape: [1, MAX_ROW + 1] }, b: { buffer: B, shape: [MAX_ROW + 1, 4] }, c: { buffer: C, shape: [1, 4] } })).toThrow(
      new RegExp(`rows of at most ${MAX_ROW}, not K = ${MAX_ROW + 1}`),
    );
    expect(() => matmul(gpu, { ...call, layernorm: { ...layernormArg, beta: { buffer: C } } })).toThrow(/C must not share a buffer with layernorm β/);
    for (const buf of [A, B, C, G]) gpu.release(buf);
  });
});
