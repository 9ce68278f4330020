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
import { chooseMatmulVariant, matmul, matmulLayernormVariant } from '../../kernels/matmul.ts';
import { poisoned, testGpu } from '../helpers/gpu.ts';
import { checkPrologueCase, lnInputs, type PrologueCase } from '../helpers/layernorm-prologue.ts';
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

const runCase = (c: PrologueCase, salt: number) => checkPrologueCase(gpu, c, salt);

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
      expect(matmulLayernormVariant(gpu, M, N, K) === 'skinny', `${M}x${N}x${K}`).toBe(chooseMatmulVariant(gpu, M, N, K) === 'skinny');
    }
    expect(matmulLayernormVariant(gpu, 1, 64, MAX_ROW + 1)).toBeNull();
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
