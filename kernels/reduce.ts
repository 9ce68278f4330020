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
  /** Floats from one row's start to the next (cols when dense). */
  stride: number;
  chunk: number;
  x: GPUBuffer;
  offX: number;
  out: GPUBuffer;
  offOut: number;
  label: string;
}

function launchCols(gpu: Gpu, l: ColsLaunch): void {
  const vec4 = l.cols % 4 === 0 && l.stride % 4 === 0 && l.offX % 4 === 0 && l.offOut % 4 === 0;
  const k = gpu.kernel({ file: 'reduce', entry: vec4 ? 'reduce_cols_v4' : 'reduce_cols_s', bindings: ['read', 'rw'] });
  const u = new Uint32Array([l.rows, l.cols, l.stride === l.cols ? 0 : l.stride, REDUCE_OPS[l.op], l.offX, l.offOut, l.chunk, 0]);
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
 * `rowStride` (default C): floats from one row of x to the next, for C columns of a wider matrix.
 */
export function reduceColumns(gpu: Gpu, op: ReduceOp, x: TensorRef, out: TensorRef, rowStride?: number): void {
  const name = `reduceColumns(${op})`;
  const [rows, cols] = rowsCols(x.shape);
  const stride = rowStride ?? cols;
  if (!Number.isInteger(stride) || stride < cols) throw new ShapeError(`${name}: a row stride of ${stride} is shorter than the ${cols} columns of x ${describeShape(x.shape)}`);
  // x spans (rows − 1)·stride + cols floats from its offset.
  const xs = checkTensor(gpu, name, 'x', { ...x, shape: [(rows - 1) * stride + cols] });
  const os = checkTensor(gpu, name, 'out', out);
  if (os.n !== cols) throw new ShapeError(`${name}: x ${describeShape(x.shape)} has ${cols} columns but out ${describeShape(out.shape)} holds ${os.n}`);
  checkDistinct(name, ['out', out], ['x', x]);
  const label = `${name}${describeShape(x.shape)}${stride !== cols ? `:stride ${stride}` : ''}`;
  if (rows <= COL_CHUNK) {
    launchCols(gpu, { op, rows, cols, stride, chunk: rows, x: x.buffer, offX: xs.offset, out: out.buffer, offOut: os.offset, label });
    return;
  }
  const chunks = Math.ceil(rows / COL_CHUNK);
  const tmp = gpu.alloc(chunks * cols, `${label}:partials`);
  launchCols(gpu, { op, rows, cols, stride, chunk: COL_CHUNK, x: x.buffer, offX: xs.offset, out: tmp, offOut: 0, label });
  launchCols(gpu, { op: combineOp(op), rows: chunks, cols, stride: cols, chunk: chunks, x: tmp, offX: 0, out: out.buffer, offOut: os.offset, label: `${label}:partials` });
  // Safe to hand back now: work recorded later runs after these dispatches.
  gpu.release(tmp);
}

/** One column sum of reduceColumnSegments: out[dstOffset + c] (+)= Σ_r x[srcOffset + r·rowStride + c]. */
export interface ColumnSegment {
  srcOffset: number;
  rows: number;
  cols: number;
  /** Floats between the starts of rows (default cols): a block of columns of a wider matrix. */
  rowStride?: number;
  dstOffset: number;
  /** Add to out instead of overwriting it. */
  accumulate?: boolean;
}

/** Above this a destination offset collides with the accumulate bit of the segment table. */
const SEG_ACCUMULATE = 0x80000000;
/** Segment tables by content, per device: a step's table is the same every step, uploaded once. */
const segmentTables = new WeakMap<Gpu, Map<string, GPUBuffer>>();
const MAX_TABLES = 16;

function segmentTable(gpu: Gpu, segs: readonly ColumnSegment[]): GPUBuffer {
  const words = new Uint32Array(8 * segs.length);
  segs.forEach((s, i) => words.set([s.srcOffset, s.rows, s.cols, s.dstOffset | (s.accumulate ? SEG_ACCUMULATE : 0), s.rowStride ?? s.cols], 8 * i));
  const key = words.join(',');
  let tables = segmentTables.get(gpu);
  if (!tables) segmentTables.set(gpu, (tables = new Map()));
  const hit = tables.get(key);
  if (hit) {
    // Most recently used last, so the oldest goes first.
    tables.delete(key);
    tables.set(key, hit);
    return hit;
  }
  if (tables.size >= MAX_TABLES) {
    const [oldKey, old] = tables.entries().next().value!;
    tables.delete(oldKey);
    gpu.release(old);
  }
  const table = gpu.upload(words, 'reduceColumnSegments:table');
  tables.set(key, table);
  return table;
}

/**
 * Many column sums (reduceColumns' op sum) in one dispatch, each with its own rows, columns and
 * places in `x` and `out`, summed in reduceColumns' order (the same bits). Destinations must not
 * overlap. The segment table is uploaded once per distinct list (a write: it submits what was
 * recorded before it) and reused after, so a training step that repeats its list costs one
 * dispatch and nothing else.
 */
export function reduceColumnSegments(gpu: Gpu, x: GPUBuffer, out: GPUBuffer, segs: readonly ColumnSegment[], label = 'reduceColumnSegments'): void {
  if (segs.length === 0) return;
  if (x === out) throw new ShapeError(`${label}: x and out must be different buffers`);
  if (segs.length > gpu.limits.maxComputeWorkgroupsPerDimension) throw new ShapeError(`${label}: ${segs.length} segments is too many for one dispatch`);
  const taken: [number, number][] = [];
  for (const s of segs) {
    const stride = s.rowStride ?? s.cols;
    for (const v of [s.srcOffset, s.rows, s.cols, s.dstOffset, stride]) {
      if (!Number.isInteger(v) || v < 0) throw new ShapeError(`${label}: segment ${JSON.stringify(s)} needs non-negative integers`);
    }
    if (s.rows === 0 || s.cols === 0) throw new ShapeError(`${label}: segment ${JSON.stringify(s)} is empty`);
    if (stride < s.cols) throw new ShapeError(`${label}: segment ${JSON.stringify(s)} has rows of ${s.cols} closer than that (rowStride ${stride})`);
    if ((s.srcOffset + (s.rows - 1) * stride + s.cols) * 4 > x.size) throw new ShapeError(`${label}: segment ${JSON.stringify(s)} reads past x (${x.size / 4} floats)`);
    if ((s.dstOffset + s.cols) * 4 > out.size || s.dstOffset + s.cols > SEG_ACCUMULATE) throw new ShapeError(`${label}: segment ${JSON.stringify(s)} writes past out (${out.size / 4} floats)`);
    taken.push([s.dstOffset, s.dstOffset + s.cols]);
  }
  taken.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < taken.length; i++) {
    if (taken[i]![0] < taken[i - 1]![1]) throw new ShapeError(`${label}: destinations [${taken[i - 1]}) and [${taken[i]}) overlap`);
  }
  const table = segmentTable(gpu, segs);
  const maxCols = Math.max(...segs.map((s) => s.cols));
  const k = gpu.kernel({ file: 'reduce', entry: 'reduce_col_segments', bindings: ['read', 'rw', 'read'] });
  const u = new Uint32Array([segs.length, 0, 0, REDUCE_OPS.sum, 0, 0, COL_CHUNK, 0]);
  gpu.dispatch(k, u, [x, out, table], [Math.ceil(maxCols / WG), segs.length], `${label}(${segs.length})`);
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
