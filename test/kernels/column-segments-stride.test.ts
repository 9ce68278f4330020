// reduceColumnSegments with a row stride (ColumnSegment.rowStride): each segment a block of
// columns of a wider matrix, as the deferred column sums of a broadcast part of a concatenation
// (a CLS token's block of the sequence's gradient) read it. Against the float64 reference at
// awkward shapes (1 row or column, primes, past reduce_cols' 256-row chunk, strides off the
// columns by odd amounts) with NaN in every gap between rows and around every destination,
// accumulation, and bit for bit what reduceColumns with the same stride gives; refusals.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { reduceColumnSegments, reduceColumns, type ColumnSegment } from '../../kernels/reduce.ts';
import { reduceColumnsRef, reduceTolerance } from '../../kernels/reduce.ref.ts';
import { expectClose } from '../helpers/close.ts';
import { poisoned, testGpu } from '../helpers/gpu.ts';
import { testRng } from '../helpers/seed.ts';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.pool.trim());

const same = (a: Float32Array, b: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

describe('reduceColumnSegments with row strides', () => {
  it('sums strided blocks into their places, reads nothing between rows, and gives reduceColumns’ bits', async () => {
    const rng = testRng(51);
    // [rows, cols, stride, accumulate]: dense among strided, one row (stride irrelevant), one
    // column far apart, primes, 257 rows (two chunks), a block in the middle of its rows.
    const shapes: [number, number, number, boolean][] = [[1, 1, 9, false], [7, 3, 3, false], [5, 1, 64, true], [13, 67, 131, false], [257, 5, 12, false], [32, 64, 2112, true], [3, 2, 5, false]];
    let srcAt = 2;
    let dstAt = 1;
    const segs: ColumnSegment[] = [];
    const data: Float32Array[] = [];
    for (const [rows, cols, rowStride, accumulate] of shapes) {
      segs.push({ srcOffset: srcAt, rows, cols, rowStride, dstOffset: dstAt, accumulate });
      data.push(rng.floats(rows * cols));
      srcAt += (rows - 1) * rowStride + cols + 3;
      dstAt += cols + 2;
    }
    // NaN everywhere but the blocks' elements: a read of a gap poisons the sum.
    const src = new Float32Array(srcAt).fill(NaN);
    segs.forEach((s, i) => {
      for (let r = 0; r < s.rows; r++) src.set(data[i]!.subarray(r * s.cols, (r + 1) * s.cols), s.srcOffset + r * s.rowStride!);
    });
    const X = gpu.upload(src, 'x');
    const O = poisoned(gpu, dstAt + 1, 'out');
    const start = segs.map((s) => (s.accumulate ? rng.floats(s.cols) : null));
    segs.forEach((s, i) => start[i] && gpu.write(O, start[i]!, s.dstOffset * 4));
    const before = gpu.counters.dispatches;
    reduceColumnSegments(gpu, X, O, segs);
    expect(gpu.counters.dispatches - before).toBe(1);
    const out = await gpu.read(O, dstAt + 1);
    for (const [i, s] of segs.entries()) {
      const want = reduceColumnsRef('sum', data[i]!, s.rows, s.cols);
      if (start[i]) want.forEach((v, c) => (want[c] = v + start[i]![c]!));
      const got = out.subarray(s.dstOffset, s.dstOffset + s.cols);
      const what = `segment ${i} [${s.rows}, ${s.cols}] stride ${s.rowStride}${s.accumulate ? ' accumulated' : ''}`;
      expectClose(got, want, reduceTolerance('sum', s.rows + 1), what);
      expect(Number.isNaN(out[s.dstOffset + s.cols]!) && Number.isNaN(out[s.dstOffset - 1]!), `${what}: the floats around it untouched`).toBe(true);
      if (s.accumulate) continue;
      const one = poisoned(gpu, s.cols, 'one');
      reduceColumns(gpu, 'sum', { buffer: X, shape: [s.rows, s.cols], offset: s.srcOffset }, { buffer: one, shape: [s.cols] }, s.rowStride);
      const alone = await gpu.read(one, s.cols);
      gpu.release(one);
      expect(same(got, alone), `${what}: reduceColumns' bits`).toBe(true);
    }
    gpu.release(X);
    gpu.release(O);
  });

  it('refuses a stride shorter than the columns, and a last row past x, in one line', () => {
    const X = gpu.alloc(64, 'x');
    const O = gpu.alloc(64, 'out');
    const floats = X.size / 4;
    expect(() => reduceColumnSegments(gpu, X, O, [{ srcOffset: 0, rows: 2, cols: 5, rowStride: 4, dstOffset: 0 }])).toThrow(/rows of 5 closer than that \(rowStride 4\)/);
    // Dense rows would fit; strided, the last one ends past x.
    expect(() => reduceColumnSegments(gpu, X, O, [{ srcOffset: 0, rows: 2, cols: 4, rowStride: floats, dstOffset: 0 }])).toThrow(/reads past x/);
    expect(() => reduceColumnSegments(gpu, X, O, [{ srcOffset: 0, rows: 2, cols: 4, rowStride: 4.5, dstOffset: 0 }])).toThrow(/non-negative integers/);
    gpu.release(X);
    gpu.release(O);
  });
});
