// Float64 reference of the reduce family: plain loops, the ground truth for tests and for the
// validation step of `coca bench reduce`.
import type { ReduceOp } from './reduce.ts';

const init = (op: ReduceOp): number => (op === 'max' ? -Infinity : 0);
const fold = (op: ReduceOp, acc: number, v: number): number => (op === 'max' ? Math.max(acc, v) : op === 'sumsq' ? acc + v * v : acc + v);

/** out (rows) = ⊕_c x (rows, cols)[r, c]. */
export function reduceRowsRef(op: ReduceOp, x: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let acc = init(op);
    for (let c = 0; c < cols; c++) acc = fold(op, acc, x[r * cols + c]!);
    out[r] = acc;
  }
  return out;
}

/** out (cols) = ⊕_r x (rows, cols)[r, c]. */
export function reduceColumnsRef(op: ReduceOp, x: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const out = new Float64Array(cols).fill(init(op));
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c] = fold(op, out[c]!, x[r * cols + c]!);
  return out;
}

/** out (1) = ⊕_i x (n)[i]. */
export function reduceAllRef(op: ReduceOp, x: ArrayLike<number>): Float64Array {
  return reduceRowsRef(op, x, 1, x.length);
}

/**
 * Tolerance for a float32 reduction of `count` terms of magnitude ≤ `scale` (≤ scale² for sumsq):
 * the column kernels add up to 256 rows one after another, each rounding at 2⁻²⁴ of a partial
 * that grows with the count, so the bound is linear in count (plus a √count term for the rest);
 * one dropped or doubled term (error ~ scale/2 on average) still fails. Max is exact.
 */
export function reduceTolerance(op: ReduceOp, count: number, scale = 1): { atol: number; rtol: number } {
  if (op === 'max') return { atol: 0, rtol: 0 };
  const s = op === 'sumsq' ? scale * scale : scale;
  return { atol: (count * 2 ** -24 + Math.sqrt(count) * 2 ** -22) * s, rtol: 1e-6 };
}
