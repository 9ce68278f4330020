// The layernorm prologue of both matmul kernels that have one (skinny: a decoding step's rows;
// subgroup: from 16 rows, a batch of captions and training) at row counts that leave the last
// row block part-filled: its statistics are taken only for the rows that exist (the rest are never
// stored). Forward against float64 layernorm-then-product, C and the layernorm's outputs poisoned,
// at rows 1, 3, 5 (skinny's blocks of 4 and 8), 13 (two blocks of 8, the second part-filled),
// 9, 16, 17, 31 and 41 (subgroup's 32-row tile, once and past it), columns and K off the tiles;
// the subgroup kernel's normalised rows, means and 1/σ (what a training step's backward reads)
// checked with them. And the bits the decode's equality to recomputation rests on: the fused
// product equals the layernorm kernel followed by the plain product, at each of these row counts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { layernorm } from '../../kernels/layernorm.ts';
import { matmul, type MatmulVariant } from '../../kernels/matmul.ts';
import { poisoned, testGpu } from '../helpers/gpu.ts';
import { checkPrologueCase, lnInputs, packedOut, requireSubgroupVariant } from '../helpers/layernorm-prologue.ts';
import { testRng } from '../helpers/seed.ts';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.pool.trim());

// K = 37 and 61: off the vec4s, one register row; B stored as linear() stores it (few pipelines:
// lavapipe compiles each for seconds; matmul-layernorm.test.ts covers B stored either way).
const SKINNY: [number, number, number][] = [
  [1, 131, 37],
  [3, 7, 37],
  [5, 260, 61],
  [13, 67, 37],
];
const SUBGROUP: [number, number, number][] = [
  [9, 131, 37],
  [13, 7, 61],
  [16, 129, 37],
  [17, 5, 37],
  [31, 37, 61],
  [41, 130, 37],
];

describe('matmul layernorm prologue, part-filled row blocks', () => {
  it('skinny: rows 1, 3, 5, 13 against float64, with bias and the GELU epilogue', async () => {
    for (const [i, shape] of SKINNY.entries()) await checkPrologueCase(gpu, { shape, transB: true, bias: true, gelu: i === 2 }, 1900 + i, 'skinny');
  });

  it('subgroup: rows 9, 13, 16, 17, 31, 41 against float64, the layernorm outputs with them', async () => {
    requireSubgroupVariant(gpu);
    for (const [i, shape] of SUBGROUP.entries()) {
      await checkPrologueCase(gpu, { shape, transB: true, bias: i !== 1, gelu: i === 3, out: packedOut(shape[0], shape[2]) }, 1910 + i, 'subgroup');
      // And without the outputs: the inference form (prenorm.ts without a gradient).
      await checkPrologueCase(gpu, { shape, transB: true, bias: true }, 1920 + i, 'subgroup');
    }
  });

  it('gives the bits of the layernorm kernel followed by the plain product at every row count', async () => {
    requireSubgroupVariant(gpu);
    const cases: [MatmulVariant, [number, number, number]][] = [...SKINNY.map((s) => ['skinny', s] as [MatmulVariant, [number, number, number]]), ...SUBGROUP.map((s) => ['subgroup', s] as [MatmulVariant, [number, number, number]])];
    for (const [i, [variant, [M, N, K]]] of cases.entries()) {
      const rng = testRng(1930 + i);
      const { x, gamma, beta } = lnInputs(rng, M, K);
      const w = rng.floats(N * K);
      const bias = rng.floats(N);
      const [A, G, Be, W, Bias] = [x, gamma, beta, w, bias].map((d, j) => gpu.upload(d, `in${j}`)) as [GPUBuffer, GPUBuffer, GPUBuffer, GPUBuffer, GPUBuffer];
      const [Y, mean, rstd, C1, C2] = [poisoned(gpu, M * K, 'y'), poisoned(gpu, M, 'mean'), poisoned(gpu, M, 'rstd'), poisoned(gpu, M * N, 'fused'), poisoned(gpu, M * N, 'apart')];
      const common = { b: { buffer: W, shape: [N, K] }, c: { shape: [M, N] }, transB: true, bias: { buffer: Bias }, variant };
      matmul(gpu, { ...common, a: { buffer: A, shape: [M, K] }, c: { buffer: C1, shape: [M, N] }, layernorm: { gamma: { buffer: G }, beta: { buffer: Be } } });
      layernorm(gpu, { x: { buffer: A, shape: [M, K] }, gamma: { buffer: G, shape: [K] }, beta: { buffer: Be, shape: [K] }, y: { buffer: Y, shape: [M, K] }, mean: { buffer: mean, shape: [M] }, rstd: { buffer: rstd, shape: [M] } });
      matmul(gpu, { ...common, a: { buffer: Y, shape: [M, K] }, c: { buffer: C2, shape: [M, N] } });
      const fused = Array.from(await gpu.read(C1, M * N));
      const apart = Array.from(await gpu.read(C2, M * N));
      for (const buf of [A, G, Be, W, Bias, Y, mean, rstd, C1, C2]) gpu.release(buf);
      const what = `${variant} [${M}, ${N}, ${K}]`;
      expect(fused.every(Number.isFinite), `${what}: finite`).toBe(true);
      expect(fused, `${what}: bits`).toEqual(apart);
    }
  });
});
