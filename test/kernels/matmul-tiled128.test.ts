// The 128x128-tile matmul (shaders/matmul_tiled128.wgsl) at shapes its tile makes awkward: just
// past 128 in M and N, K not a multiple of its 8-deep slice, one row, a batch, every layout,
// against the float64 reference (matmul.test.ts also runs it at the family's shared shapes).
import { afterAll, beforeAll, describe, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { matmul } from '../../kernels/matmul.ts';
import { matmulRef, matmulTolerance } from '../../kernels/matmul.ref.ts';
import { expectClose } from '../helpers/close.ts';
import { poisoned, testGpu } from '../helpers/gpu.ts';
import { testRng } from '../helpers/seed.ts';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.pool.trim());

// [batch, M, N, K]
const SHAPES: [number, number, number, number][] = [
  [1, 129, 131, 19],
  [2, 131, 257, 9],
  [1, 1, 129, 8],
  [1, 257, 3, 1],
];

describe('matmul tiled128', () => {
  for (const layout of ['NN', 'NT', 'TN'] as const) {
    it(`${layout} past the 128-tile edges, K off the 8-deep slice, with bias and alpha`, async () => {
      for (let s = 0; s < SHAPES.length; s++) {
        const [batch, M, N, K] = SHAPES[s]!;
        const rng = testRng(s);
        const transA = layout === 'TN';
        const transB = layout === 'NT';
        const a = rng.floats(batch * M * K);
        const b = rng.floats(batch * K * N);
        const bias = s % 2 ? rng.floats(N) : undefined;
        const A = gpu.upload(a, 'A');
        const B = gpu.upload(b, 'B');
        const Bias = bias ? gpu.upload(bias, 'bias') : undefined;
        const C = poisoned(gpu, batch * M * N, 'C');
        matmul(gpu, {
          a: { buffer: A, shape: [batch, ...(transA ? [K, M] : [M, K])] },
          b: { buffer: B, shape: [batch, ...(transB ? [N, K] : [K, N])] },
          c: { buffer: C, shape: [batch, M, N] },
          bias: Bias ? { buffer: Bias } : undefined,
          alpha: 0.75,
          transA,
          transB,
          variant: 'tiled128',
        });
        const got = await gpu.read(C, batch * M * N);
        const want = matmulRef(a, b, { M, N, K, batch, transA, transB, strideA: M * K }, { alpha: 0.75, bias });
        for (const buf of [A, B, C, Bias]) if (buf) gpu.release(buf);
        expectClose(got, want, matmulTolerance(K), `tiled128 ${layout} [${SHAPES[s]}]`);
      }
    });
  }
});
