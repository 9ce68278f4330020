// skinny's workgroup width follows N (skinnyWidth: 64, 32 or 16 invocations of 4 columns), so a
// decoding step's 128-column products spread over more than one workgroup (one core each on a
// software adapter). Against float64 at every width, around each width's workgroup edge and off
// it (N = 1, 63, 65, 127, 129, 257, 513, 1025), rows 1, 3, 8 (row blocks 1, 4, 8), prime K, with
// bias, alpha and accumulation, C poisoned unless accumulating; and the same bits as the subgroup
// kernel (its sums run over k in the same order), which the cached decode's equality to
// recomputation at batch 1 rests on.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { matmul, matmulVariantAvailable, skinnyWidth } from '../../kernels/matmul.ts';
import { matmulRef, matmulTolerance } from '../../kernels/matmul.ref.ts';
import { expectClose } from '../helpers/close.ts';
import { poisoned, testGpu } from '../helpers/gpu.ts';
import { testRng } from '../helpers/seed.ts';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.pool.trim());

/** C = alpha·A·Bᵀ + bias (+ C) with B stored [N, K], as linear() calls it; returns C and float64's answer. */
async function run(M: number, N: number, K: number, salt: number, variant: 'skinny' | 'subgroup', accumulate = false) {
  const rng = testRng(salt);
  const a = rng.floats(M * K);
  const b = rng.floats(N * K);
  const bias = rng.floats(N);
  const c0 = accumulate ? rng.floats(M * N) : undefined;
  const [A, B, Bias] = [a, b, bias].map((d, i) => gpu.upload(d, `in${i}`)) as [GPUBuffer, GPUBuffer, GPUBuffer];
  const C = c0 ? gpu.upload(c0, 'C') : poisoned(gpu, M * N, 'C');
  matmul(gpu, { a: { buffer: A, shape: [M, K] }, b: { buffer: B, shape: [N, K] }, c: { buffer: C, shape: [M, N] }, transB: true, bias: { buffer: Bias }, alpha: 0.75, accumulate, variant });
  const got = await gpu.read(C, M * N);
  for (const buf of [A, B, Bias, C]) gpu.release(buf);
  return { got, want: matmulRef(a, b, { M, N, K, batch: 1, transA: false, transB: true }, { alpha: 0.75, bias, accumulate: c0 }) };
}

describe('matmul skinny, workgroup width by N', () => {
  it('is 16 wide up to 384 columns, 32 up to 768, 64 past that (4 workgroups along n where it can)', () => {
    expect([1, 63, 128, 255, 384, 385, 512, 768, 769, 1024, 2048].map(skinnyWidth)).toEqual([16, 16, 16, 16, 16, 32, 32, 32, 64, 64, 64]);
  });

  it('matches float64 at every width, around and off the workgroup edges', async () => {
    const shapes: [number, number, number][] = [
      [1, 1, 7],
      [1, 63, 37],
      [3, 65, 37],
      [1, 127, 128],
      [8, 129, 37],
      [1, 257, 61],
      [3, 513, 37],
      [1, 1025, 37],
    ];
    for (const [i, [M, N, K]] of shapes.entries()) {
      const { got, want } = await run(M, N, K, 2100 + i, 'skinny', i % 3 === 2);
      expectClose(got, want, matmulTolerance(K), `[${M}, ${N}, ${K}] (width ${skinnyWidth(N)})`);
    }
  });

  it('gives the subgroup kernel\'s bits at one row (a decoding step against recomputation)', async () => {
    expect(matmulVariantAvailable(gpu, 'subgroup'), `subgroup size ${gpu.subgroupSize}`).toBe(true);
    for (const [i, [N, K]] of ([[128, 512], [384, 128], [131, 37]] as const).entries()) {
      const skinny = await run(1, N, K, 2120 + i, 'skinny');
      const subgroup = await run(1, N, K, 2120 + i, 'subgroup');
      expect(skinny.got.every(Number.isFinite), `N ${N}: finite`).toBe(true);
      expect(Array.from(skinny.got), `N ${N} K ${K}: bits`).toEqual(Array.from(subgroup.got));
    }
  });
});
