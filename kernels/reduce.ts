// Host side of the reduce family (shaders/reduce.wgsl): per-row reductions, column sums (bias
// gradients), and whole-tensor reductions (the squared global gradient norm), all deterministic.
import type { Gpu } from '../src/gpu/gpu.ts';
import { ShapeError } from '../src/gpu/errors.ts';
import { checkDistinct, checkTensor, describeShape, grid2d, rowsCols, type TensorRef } from './common.ts';

export const REDUCE_OPS = { sum: 0, sumsq: 1, max: 2 } as const;
export type ReduceOp = keyof typeof REDUCE_OPS;

const WG = 64;
/** Rows one reduce_cols invocation folds before leaving a partial (the first level of the tree). */
const COL_CHUNK = 256;
/** Row length reduceAll cuts a flat range into: rows of it are folded by one workgroup each. */
const ALL_CHUNK = 4096;

/** How partials of `op` combine: squares are summed once, never squared again. */
const combineOp = (op: ReduceOp): ReduceOp => (op === 'max' ? 'max' : 'sum');

interface RowsLaunch {
  op: ReduceOp;
  rows: number;
  cols: number;
  /** Valid elements from the matrix start (the last row may be short). */
  n: number;
  x: GPUBuffer;
  offX: number;
  out: GPUBuffer;
  offOut: number;
  label: string;
}

function launchRows(gpu: Gpu, l: RowsLaunch): void {
  const vec4 = l.cols % 4 === 0 && l.offX % 4 === 0 && l.n % 4 === 0;
  const k = gpu.kernel({ file: 'reduce', entry: vec4 ? 'reduce_rows_v4' : 'reduce_rows_s', bindings: ['read', 'rw'] });
  const u = new Uint32Array([l.rows, l.cols, l.n, REDUCE_OPS[l.op], l.offX, l.offOut, 0, 0]);
  gpu.dispatch(k, u, [l.x, l.out], grid2d(gpu, l.rows), l.label);
}

interface ColsLaunch {
  op: ReduceOp;
  rows: number;
  cols: number;
  chunk: number;
  x: GPUBuffer;
  offX: number;
  out: GPUBuffer;
  offOut: number;
  label: string;
}

function launchCols(gpu: Gpu, l: ColsLaunch): void {
  const vec4 = l.cols % 4 === 0 && l.offX % 4 === 0 && l.offOut % 4 === 0;
  const k = gpu.kernel({ file: 'reduce', entry: vec4 ? 'reduce_cols_v4' : 'reduce_cols_s', bindings: ['read', 'rw'] });
  const u = new Uint32Array([l.rows, l.cols, 0, REDUCE_OPS[l.op], l.offX, l.offOut, l.chunk, 0]);
  const chunks = Math.ceil(l.rows / l.chunk);
  if (chunks > gpu.limits.maxComputeWorkgroupsPerDimension) throw new ShapeError(`${l.label}: ${l.rows} rows is too many to reduce over`);
  gpu.dispatch(k, u, [l.x, l.out], [Math.ceil((vec4 ? l.cols / 4 : l.cols) / WG), chunks], l.label);
}

/** out[r] = ⊕_c f(x[r, c]) for x [..., C] seen as [R, C], out [R] (or x's shape without its last axis). */
export function reduceRows(gpu: Gpu, op: ReduceOp, x: TensorRef, out: TensorRef): void {
  const name = `reduceRows(${op})`;
  const xs = checkTensor(gpu, name, 'x', x);
  const os = checkTensor(gpu, name, 'out', out);
  const [rows, cols] = rowsCols(x.shape);
  if (os.n !== rows) throw new ShapeError(`${name}: x ${describeShape(x.shape)} has ${rows} rows but out ${describeShape(out.shape)} holds ${os.n}`);
  checkDistinct(name, ['out', out], ['x', x]);
  launchRows(gpu, { op, rows, cols, n: xs.n, x: x.buffer, offX: xs.offset, out: out.buffer, offOut: os.offset, label: `${name}${describeShape(x.shape)}` });
}

/**
 * out[c] = ⊕_r f(x[r, c]) for x [..., C] seen as [R, C], out [C]: the bias gradient for op sum.
 * Folds chunks of 256 rows top to bottom, then the chunk partials in order (a two-level tree).
 */
export function reduceColumns(gpu: Gpu, op: ReduceOp, x: TensorRef, out: TensorRef): void {
  const name = `reduceColumns(${op})`;
  const xs = checkTensor(gpu, name, 'x', x);
  const os = checkTensor(gpu, name, 'out', out);
  const [rows, cols] = rowsCols(x.shape);
  if (os.n !== cols) throw new ShapeError(`${name}: x ${describeShape(x.shape)} has ${cols} columns but out ${describeShape(out.shape)} holds ${os.n}`);
  checkDistinct(name, ['out', out], ['x', x]);
  const label = `${name}${describeShape(x.shape)}`;
  if (rows <= COL_CHUNK) {
    launchCols(gpu, { op, rows, cols, chunk: rows, x: x.buffer, offX: xs.offset, out: out.buffer, offOut: os.offset, label });
    return;
  }
  const chunks = Math.ceil(rows / COL_CHUNK);
  const tmp = gpu.alloc(chunks * cols, `${label}:partials`);
  launchCols(gpu, { op, rows, cols, chunk: COL_CHUNK, x: x.buffer, offX: xs.offset, out: tmp, offOut: 0, label });
  launchCols(gpu, { op: combineOp(op), rows: chunks, cols, chunk: chunks, x: tmp, offX: 0, out: out.buffer, offOut: os.offset, label: `${label}:partials` });
  // Safe to hand back now: work recorded later runs after these dispatches.
  gpu.release(tmp);
}

/** out[0] = ⊕ over every element of x (any shape); out has shape [1]. Sumsq gives ‖x‖². */
export function reduceAll(gpu: Gpu, op: ReduceOp, x: TensorRef, out: TensorRef): void {
  const name = `reduceAll(${op})`;
  const xs = checkTensor(gpu, name, 'x', x);
  const os = checkTensor(gpu, name, 'out', out);
  if (os.n !== 1) throw new ShapeError(`${name}: out ${describeShape(out.shape)} must hold one element`);
  checkDistinct(name, ['out', out], ['x', x]);
  const label = `${name}${describeShape(x.shape)}`;
  const rows = Math.ceil(xs.n / ALL_CHUNK);
  if (rows === 1) {
    launchRows(gpu, { op, rows: 1, cols: xs.n, n: xs.n, x: x.buffer, offX: xs.offset, out: out.buffer, offOut: os.offset, label });
    return;
  }
  const tmp = gpu.alloc(rows, `${label}:partials`);
  launchRows(gpu, { op, rows, cols: ALL_CHUNK, n: xs.n, x: x.buffer, offX: xs.offset, out: tmp, offOut: 0, label });
  launchRows(gpu, { op: combineOp(op), rows: 1, cols: rows, n: rows, x: tmp, offX: 0, out: out.buffer, offOut: os.offset, label: `${label}:partials` });
  gpu.release(tmp);
}

/** Bytes one call reads and writes (napkin math): the input once, the outputs once. */
export const reduceBytes = (inputs: number, outputs: number): number => 4 * (inputs + outputs);
