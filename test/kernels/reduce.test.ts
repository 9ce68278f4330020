// The reduce family against its float64 reference: per-row, per-column (one and two passes) and
// whole-tensor reductions for sum, sum of squares and max, at lengths of 1, primes, past the
// workgroup (64) and the vec4 width, at aligned and odd offsets; outputs poisoned with NaN; and
// bitwise determinism across runs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { reduceAll, reduceColumns, reduceRows, type ReduceOp } from '../../kernels/reduce.ts';
import { reduceAllRef, reduceColumnsRef, reduceRowsRef, reduceTolerance } from '../../kernels/reduce.ref.ts';
import { expectClose } from '../helpers/close.ts';
import { placed, poisoned, testGpu } from '../helpers/gpu.ts';
import { testRng } from '../helpers/seed.ts';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.pool.trim());

const OPS: ReduceOp[] = ['sum', 'sumsq', 'max'];


type Which = 'rows' | 'cols' | 'all';

async function runCase(which: Which, op: ReduceOp, rows: number, cols: number, off: number, salt: number, scale = 1): Promise<Float32Array> {
  const rng = testRng(salt);
  const x = rng.floats(rows * cols, -scale, scale);
  const X = placed(gpu, x, off, 'x');
  const outN = which === 'rows' ? rows : which === 'cols' ? cols : 1;
  const outOff = off === 0 ? 0 : 4;
  const O = poisoned(gpu, outOff + outN, 'out');
  const xr = { buffer: X, shape: [rows, cols], offset: off };
  const or = { buffer: O, shape: [outN], offset: outOff };
  if (which === 'rows') reduceRows(gpu, op, xr, or);
  else if (which === 'cols') reduceColumns(gpu, op, xr, or);
  else reduceAll(gpu, op, xr, or);
  const got = await gpu.read(O, outN, outOff);
  const want = which === 'rows' ? reduceRowsRef(op, x, rows, cols) : which === 'cols' ? reduceColumnsRef(op, x, rows, cols) : reduceAllRef(op, x);
  const count = which === 'rows' ? cols : which === 'cols' ? rows : rows * cols;
  expectClose(got, want, reduceTolerance(op, count, scale), `${which} ${op} [${rows}, ${cols}] offset ${off}`);
  gpu.release(X);
  gpu.release(O);
  return got;
}

describe.each(OPS)('reduce %s', (op) => {
  it('over each row', async () => {
    const shapes: [number, number][] = [[1, 1], [7, 1], [3, 5], [5, 67], [4, 12], [3, 259], [2, 1031], [2, 4104]];
    let salt = 0;
    for (const [r, c] of shapes) for (const off of [0, 3]) await runCase('rows', op, r, c, off, salt++);
  });
  it('over each column (bias gradient), one pass and two', async () => {
    const shapes: [number, number][] = [[1, 1], [1, 7], [5, 1], [9, 12], [13, 67], [300, 5], [601, 12], [257, 3]];
    let salt = 100;
    for (const [r, c] of shapes) for (const off of [0, 3]) await runCase('cols', op, r, c, off, salt++);
  });
  it('over the whole tensor, including short last rows and large |x|', async () => {
    const shapes: [number, number][] = [[1, 1], [1, 5], [1, 4097], [3, 4099], [5, 4000]];
    let salt = 200;
    for (const [r, c] of shapes) for (const off of [0, 3]) await runCase('all', op, r, c, off, salt++);
    await runCase('all', op, 7, 1001, 0, salt++, 1e4);
  });
});

describe('reduce determinism', () => {
  it('gives the same bits twice', async () => {
    for (const which of ['rows', 'cols', 'all'] as const) {
      const a = await runCase(which, 'sumsq', 613, 67, 0, 300);
      const b = await runCase(which, 'sumsq', 613, 67, 0, 300);
      expect(Buffer.from(a.buffer).equals(Buffer.from(b.buffer)), which).toBe(true);
    }
  });
});

describe('reduce bad input', () => {
  it('names the shapes that do not fit', () => {
    const [a, b] = [gpu.alloc(64, 'a'), gpu.alloc(64, 'b')];
    expect(() => reduceRows(gpu, 'sum', { buffer: a, shape: [4, 5] }, { buffer: b, shape: [5] })).toThrow(/x \[4, 5\] has 4 rows but out \[5\] holds 5/);
    expect(() => reduceColumns(gpu, 'sum', { buffer: a, shape: [4, 5] }, { buffer: b, shape: [4] })).toThrow(/x \[4, 5\] has 5 columns but out \[4\] holds 4/);
    expect(() => reduceAll(gpu, 'max', { buffer: a, shape: [8] }, { buffer: b, shape: [2] })).toThrow(/out \[2\] must hold one element/);
    expect(() => reduceAll(gpu, 'max', { buffer: a, shape: [8] }, { buffer: a, shape: [1], offset: 9 })).toThrow(/out must not share a buffer with x/);
    gpu.release(a);
    gpu.release(b);
  });
});
