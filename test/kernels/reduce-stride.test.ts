// Column sums of a block of columns inside a wider matrix (reduceColumns' rowStride: a broadcast
// part of a concatenation's gradient, summed where it lies instead of gathered first): against the
// float64 reference at 1 row and column, primes, vec4 and scalar strides, past the 256-row chunk
// (two passes), at odd offsets, with NaN in every float between the block's rows and the output
// poisoned; bit for bit what reduceColumns gives on the block gathered densely.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { reduceColumns } from '../../kernels/reduce.ts';
import { reduceColumnsRef, reduceTolerance } from '../../kernels/reduce.ref.ts';
import { expectClose } from '../helpers/close.ts';
import { poisoned, testGpu } from '../helpers/gpu.ts';
import { testRng } from '../helpers/seed.ts';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.pool.trim());

describe('reduceColumns with a row stride', () => {
  it('sums the block in place, as the gathered block sums', async () => {
    // [rows, cols, stride, offset]
    const cases: [number, number, number, number][] = [[1, 1, 3, 0], [5, 7, 12, 3], [9, 12, 20, 4], [300, 7, 13, 1], [257, 8, 12, 0], [32, 128, 4224, 128]];
    const rng = testRng(71);
    for (const [rows, cols, stride, off] of cases) {
      const what = `[${rows}, ${cols}] every ${stride} from ${off}`;
      const dense = rng.floats(rows * cols);
      const wide = new Float32Array(off + (rows - 1) * stride + cols + 2).fill(NaN);
      for (let r = 0; r < rows; r++) wide.set(dense.subarray(r * cols, (r + 1) * cols), off + r * stride);
      const X = gpu.upload(wide, 'wide');
      const D = gpu.upload(dense, 'dense');
      const [O, P] = [poisoned(gpu, cols, 'out'), poisoned(gpu, cols, 'gathered')];
      reduceColumns(gpu, 'sum', { buffer: X, shape: [rows, cols], offset: off }, { buffer: O, shape: [cols] }, stride);
      reduceColumns(gpu, 'sum', { buffer: D, shape: [rows, cols] }, { buffer: P, shape: [cols] });
      const [got, gathered] = [await gpu.read(O, cols), await gpu.read(P, cols)];
      expectClose(got, reduceColumnsRef('sum', dense, rows, cols), reduceTolerance('sum', rows), what);
      expect(Buffer.from(got.buffer).equals(Buffer.from(gathered.buffer)), `${what}: the gathered block's bits`).toBe(true);
      for (const b of [X, D, O, P]) gpu.release(b);
    }
  });

  it('refuses a stride shorter than a row, and a block that runs past its buffer', () => {
    const X = gpu.alloc(40, 'x');
    const O = gpu.alloc(8, 'out');
    expect(() => reduceColumns(gpu, 'sum', { buffer: X, shape: [3, 5] }, { buffer: O, shape: [5] }, 4)).toThrow(/a row stride of 4 is shorter than the 5 columns/);
    expect(() => reduceColumns(gpu, 'sum', { buffer: X, shape: [3, 5] }, { buffer: O, shape: [5] }, X.size / 4)).toThrow(/reduceColumns\(sum\)/);
    gpu.release(X);
    gpu.release(O);
  });
});
