// Many column sums in one dispatch (reduceColumnSegments) and the layernorm backward that leaves
// its dγ | dβ partials at an offset of a shared buffer for it (layernormBackwardPartials): against
// the float64 references at awkward shapes (1 row or column, primes, past reduce_cols' 256-row
// chunk, odd offsets), destinations poisoned with NaN and the floats between them checked
// untouched, accumulation onto what the destination holds, and bit for bit what one
// reduceColumns (or layernormBackward's own fold) per segment gives.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { layernorm, layernormBackward, layernormBackwardPartials, layernormPartialRows } from '../../kernels/layernorm.ts';
import { layernormBackwardRef, layernormTolerance } from '../../kernels/layernorm.ref.ts';
import { reduceColumnSegments, reduceColumns, type ColumnSegment } from '../../kernels/reduce.ts';
import { reduceColumnsRef, reduceTolerance } from '../../kernels/reduce.ref.ts';
import { expectClose } from '../helpers/close.ts';
import { placed, poisoned, testGpu } from '../helpers/gpu.ts';
import { testRng } from '../helpers/seed.ts';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.pool.trim());

const same = (a: Float32Array, b: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

describe('reduceColumnSegments', () => {
  it('sums each segment into its place, adds where asked, touches nothing else, and gives reduceColumns’ bits', async () => {
    const rng = testRng(41);
    // [rows, cols, accumulate]: one row, one column, primes, 256 and 257 rows (one chunk, two),
    // 601 rows (three chunks) and a wide segment next to narrow ones.
    const shapes: [number, number, boolean][] = [[1, 1, false], [1, 7, true], [5, 1, false], [13, 67, false], [256, 12, true], [257, 3, false], [601, 130, false], [37, 5, true]];
    let srcAt = 3;
    let dstAt = 1;
    const segs: ColumnSegment[] = [];
    const data: Float32Array[] = [];
    for (const [rows, cols, accumulate] of shapes) {
      segs.push({ srcOffset: srcAt, rows, cols, dstOffset: dstAt, accumulate });
      data.push(rng.floats(rows * cols));
      srcAt += rows * cols + 5;
      dstAt += cols + 2; // two poisoned floats between destinations
    }
    const src = new Float32Array(srcAt).fill(NaN);
    segs.forEach((s, i) => src.set(data[i]!, s.srcOffset));
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
      expectClose(got, want, reduceTolerance('sum', s.rows + 1), `segment ${i} [${s.rows}, ${s.cols}]${s.accumulate ? ' accumulated' : ''}`);
      expect(Number.isNaN(out[s.dstOffset + s.cols]!) && Number.isNaN(out[s.dstOffset - 1]!), `segment ${i}: the floats around it untouched`).toBe(true);
      if (s.accumulate) continue;
      // The same bits as a reduceColumns of the segment alone.
      const one = poisoned(gpu, s.cols, 'one');
      reduceColumns(gpu, 'sum', { buffer: X, shape: [s.rows, s.cols], offset: s.srcOffset }, { buffer: one, shape: [s.cols] });
      expect(same(await gpu.read(one, s.cols), got), `segment ${i}: reduceColumns' bits`).toBe(true);
      gpu.release(one);
    }
    gpu.release(X);
    gpu.release(O);
  });

  it('refuses overlapping destinations, ranges past a buffer, and x as out, in one line each', () => {
    const X = gpu.alloc(100, 'x');
    const O = gpu.alloc(20, 'out');
    const seg = (o: Partial<ColumnSegment>): ColumnSegment => ({ srcOffset: 0, rows: 2, cols: 5, dstOffset: 0, ...o });
    expect(() => reduceColumnSegments(gpu, X, O, [seg({}), seg({ dstOffset: 4 })])).toThrow(/destinations \[0,5\) and \[4,9\) overlap/);
    expect(() => reduceColumnSegments(gpu, X, O, [seg({ srcOffset: X.size / 4 - 9 })])).toThrow(/reads past x/);
    expect(() => reduceColumnSegments(gpu, X, O, [seg({ dstOffset: O.size / 4 - 4 })])).toThrow(/writes past out/);
    expect(() => reduceColumnSegments(gpu, X, X, [seg({})])).toThrow(/x and out must be different buffers/);
    gpu.release(X);
    gpu.release(O);
  });
});

describe('layernormBackwardPartials + reduceColumnSegments', () => {
  it('give dx, dγ and dβ of the float64 reference and layernormBackward’s bits, several layernorms in one buffer', async () => {
    // [rows, cols]: one row of one, a prime shape, 300 rows (300 partial rows: two chunks), vec4 rows.
    const shapes: [number, number][] = [[1, 1], [7, 13], [300, 13], [4, 12]];
    const rng = testRng(42);
    const parts = shapes.map(([rows, cols]) => layernormPartialRows(gpu, [rows, cols]) * 2 * cols);
    const P = poisoned(gpu, 3 + parts.reduce((a, b) => a + b + 1, 0), 'partials');
    let at = 3;
    const arenaFloats = shapes.reduce((s, [, c]) => s + 2 * c + 1, 1);
    const ARENA = poisoned(gpu, arenaFloats, 'arena');
    let dstAt = 1;
    const segs: ColumnSegment[] = [];
    const cases = [];
    for (const [i, [rows, cols]] of shapes.entries()) {
      const n = rows * cols;
      const x = rng.floats(n, -2, 2);
      const gamma = rng.floats(cols, 0.5, 1.5);
      const dy = rng.floats(n);
      const X = placed(gpu, x, 1, 'x');
      const G = placed(gpu, gamma, 2, 'gamma');
      const B = placed(gpu, rng.floats(cols), 0, 'beta');
      const [Y, M, R] = [gpu.alloc(n, 'y'), gpu.alloc(rows, 'mean'), gpu.alloc(rows, 'rstd')];
      const t = (buffer: GPUBuffer, shape: number[], offset = 0) => ({ buffer, shape, offset });
      layernorm(gpu, { x: t(X, [rows, cols], 1), gamma: t(G, [cols], 2), beta: t(B, [cols]), y: t(Y, [rows, cols]), mean: t(M, [rows]), rstd: t(R, [rows]) });
      const DY = placed(gpu, dy, 0, 'dy');
      const DX = poisoned(gpu, n, 'dx');
      const common = { x: t(X, [rows, cols], 1), gamma: t(G, [cols], 2), mean: t(M, [rows]), rstd: t(R, [rows]), dy: t(DY, [rows, cols]), dx: t(DX, [rows, cols]) };
      layernormBackwardPartials(gpu, { ...common, partials: { buffer: P, offset: at } });
      segs.push({ srcOffset: at, rows: layernormPartialRows(gpu, [rows, cols]), cols: 2 * cols, dstOffset: dstAt });
      // The same backward with its own fold, for the bits.
      const DX2 = poisoned(gpu, n, 'dx2');
      const DGB = poisoned(gpu, 2 * cols, 'dgb');
      layernormBackward(gpu, { ...common, dx: t(DX2, [rows, cols]), dgamma: t(DGB, [cols]), dbeta: t(DGB, [cols], cols) });
      cases.push({ rows, cols, x, gamma, dy, M, R, DX, DX2, DGB, dstAt, bufs: [X, G, B, Y, M, R, DY, DX, DX2, DGB] });
      at += parts[i]! + 1;
      dstAt += 2 * cols + 1;
    }
    const before = gpu.counters.dispatches;
    reduceColumnSegments(gpu, P, ARENA, segs);
    expect(gpu.counters.dispatches - before).toBe(1);
    const arena = await gpu.read(ARENA, arenaFloats);
    for (const c of cases) {
      const what = `layernorm [${c.rows}, ${c.cols}]`;
      const [mean, rstd] = [await gpu.read(c.M, c.rows), await gpu.read(c.R, c.rows)];
      const ref = layernormBackwardRef(c.x, c.gamma, mean, rstd, c.dy, c.rows, c.cols);
      const tol = layernormTolerance(c.rows, c.cols);
      const dx = await gpu.read(c.DX, c.rows * c.cols);
      expectClose(dx, ref.dx, { atol: tol.dx.atol * Math.max(1, ...rstd), rtol: tol.dx.rtol }, `${what}: dx`);
      const dgb = arena.subarray(c.dstAt, c.dstAt + 2 * c.cols);
      expectClose(dgb.subarray(0, c.cols), ref.dgamma, tol.dparams, `${what}: dgamma`);
      expectClose(dgb.subarray(c.cols), ref.dbeta, tol.dparams, `${what}: dbeta`);
      expect(Number.isNaN(arena[c.dstAt - 1]!) && Number.isNaN(arena[c.dstAt + 2 * c.cols]!), `${what}: the arena around dγ | dβ untouched`).toBe(true);
      expect(same(dx, await gpu.read(c.DX2, c.rows * c.cols)), `${what}: dx bits`).toBe(true);
      expect(same(dgb, await gpu.read(c.DGB, 2 * c.cols)), `${what}: dγ | dβ bits`).toBe(true);
      for (const b of c.bufs) gpu.release(b);
    }
    gpu.release(P);
    gpu.release(ARENA);
  });

  it('refuses partials that do not fit their buffer or share one with an operand', () => {
    const b = (n: number, l: string) => gpu.alloc(n, l);
    const [X, G, M, R, DY, DX] = [b(20, 'x'), b(5, 'g'), b(4, 'm'), b(4, 'r'), b(20, 'dy'), b(20, 'dx')];
    const t = (buffer: GPUBuffer, shape: number[]) => ({ buffer, shape });
    const call = { x: t(X, [4, 5]), gamma: t(G, [5]), mean: t(M, [4]), rstd: t(R, [4]), dy: t(DY, [4, 5]), dx: t(DX, [4, 5]) };
    const small = b(39, 'small');
    const last = small.size / 4 - 1;
    expect(() => layernormBackwardPartials(gpu, { ...call, partials: { buffer: small, offset: last } })).toThrow(new RegExp(`partials of \\[4, 10\\] from float ${last} do not fit their buffer`));
    expect(() => layernormBackwardPartials(gpu, { ...call, x: t(X, [2, 5]), dy: t(DY, [2, 5]), dx: t(DX, [2, 5]), mean: t(M, [2]), rstd: t(R, [2]), partials: { buffer: DY, offset: 0 } })).toThrow(/the partials need a buffer of their own, not dy's/);
    for (const x of [X, G, M, R, DY, DX, small]) gpu.release(x);
  });
});
