// Host side of the LSTM family (shaders/lstm.wgsl): a step is one matmul for all four gates,
// [x | h]·Wᵀ + b with W = [W_ih | W_hh] stored [4H, I + H], then one fused cell kernel; its
// backward is one cell kernel, then one matmul for d[x | h] and one for dW (+ db). The cell can
// write h' straight into the h half of the next step's [x | h] input, and read the h half of
// the next step's d[x | h] as part of dh, so that a sequence needs no copies and no adds.
// Gate order is PyTorch's (i, f, g, o); its weight_ih_l0 and weight_hh_l0 are W's two column
// blocks, bias_ih_l0 + bias_hh_l0 its bias.
import type { Gpu } from '../src/gpu/gpu.ts';
import { ShapeError } from '../src/gpu/errors.ts';
import { checkDistinct, checkExtent, checkTensor, describeShape, grid2d, type TensorRef } from './common.ts';
import { matmul } from './matmul.ts';
import { reduceColumns } from './reduce.ts';

const WG = 64;

/** Rows of H floats with their own stride: the h half of an [x | h] matrix [B, I + H] is at offset I, stride I + H. */
export interface StridedRows {
  buffer: GPUBuffer;
  /** Floats to row 0's first element. */
  offset?: number;
  /** Floats from one row to the next. */
  rowStride: number;
}

export interface LstmGatesCall {
  /** [B, I + H]: the step's input beside the previous h. */
  xh: TensorRef;
  /** [4H, I + H] */
  w: TensorRef;
  /** [4H] */
  bias?: TensorRef;
  /** [B, 4H], written. */
  gates: TensorRef;
  label?: string;
}

export interface LstmCellCall {
  /** [B, 4H]: pre-activations in, activations (σi, σf, tanh g, σo) out, in place. */
  gates: TensorRef;
  /** [B, H], the previous cell state; absent = zeros. */
  c?: TensorRef;
  /** [B, H], written. */
  cOut: TensorRef;
  /** [B, H], written. */
  h: TensorRef;
  /** h' written here as well (the h half of the next step's [x | h]). */
  hInto?: StridedRows;
  label?: string;
}

export interface LstmCellBackwardCall {
  /** [B, 4H], the activations the forward left in its gates. */
  acts: TensorRef;
  /** [B, H], the previous cell state the forward read; absent = zeros. */
  c?: TensorRef;
  /** [B, H], gradient reaching h' from above; absent = 0. */
  dh?: TensorRef;
  /** A second share of dh' read from strided rows (the h half of the next step's d[x | h]), added to dh. */
  dhInto?: StridedRows;
  /** [B, H], gradient reaching c' (from the next step); absent = 0. */
  dc?: TensorRef;
  /** [B, 4H], written: gradients of the gate pre-activations. */
  dgates: TensorRef;
  /** [B, H], written: gradient reaching the previous cell state. */
  dcPrev?: TensorRef;
  label?: string;
}

export interface LstmGatesBackwardCall {
  dgates: TensorRef;
  xh: TensorRef;
  w: TensorRef;
  /** [B, I + H] = dgates·W, written (or added to with accumulateDxh). */
  dxh?: TensorRef;
  accumulateDxh?: boolean;
  /** [4H, I + H] += dgatesᵀ·[x | h] when accumulateDw, else =. */
  dw?: TensorRef;
  accumulateDw?: boolean;
  /** [4H], overwritten with the column sums of dgates. */
  dbias?: TensorRef;
  label?: string;
}

function gateDims(op: string, gates: readonly number[]): { B: number; H: number } {
  if (gates.length !== 2 || gates[1]! % 4 !== 0) throw new ShapeError(`${op}: gates ${describeShape(gates)} must be [batch, 4·hidden]`);
  return { B: gates[0]!, H: gates[1]! / 4 };
}

/** Records gates = [x | h]·Wᵀ (+ b): the four gates of every unit in one matmul. */
export function lstmGates(gpu: Gpu, call: LstmGatesCall): void {
  const name = call.label ?? 'lstmGates';
  const { B, H } = gateDims(name, call.gates.shape);
  const K = call.xh.shape[1]!;
  checkTensor(gpu, name, 'xh', call.xh, [B, K]);
  checkTensor(gpu, name, 'w', call.w, [4 * H, K]);
  if (call.bias) checkTensor(gpu, name, 'bias', call.bias, [4 * H]);
  matmul(gpu, { a: call.xh, b: call.w, c: call.gates, transB: true, bias: call.bias ? { buffer: call.bias.buffer, offset: call.bias.offset } : undefined, label: `${name}(${B}x${K}→${4 * H})` });
}

function checkRows(gpu: Gpu, op: string, what: string, r: StridedRows, B: number, H: number): number {
  const off = r.offset ?? 0;
  if (!Number.isInteger(r.rowStride) || r.rowStride < H) throw new ShapeError(`${op}: ${what} has row stride ${r.rowStride}; rows of ${H} need at least ${H}`);
  checkExtent(gpu, op, () => `${what} (${B} rows of ${H}, stride ${r.rowStride})`, r.buffer, off, (B - 1) * r.rowStride + H);
  return off;
}

const FLAGS = { HAS_C: 1, H_INTO: 2, HAS_DH: 4, DH_INTO: 8, HAS_DC: 16 };

/** Records the cell update: activations in place over the gates, c' and h'. */
export function lstmCell(gpu: Gpu, call: LstmCellCall): void {
  const name = call.label ?? 'lstmCell';
  const { B, H } = gateDims(name, call.gates.shape);
  const cg = checkTensor(gpu, name, 'gates', call.gates);
  const cc = call.c ? checkTensor(gpu, name, 'c', call.c, [B, H]) : null;
  const cco = checkTensor(gpu, name, 'cOut', call.cOut, [B, H]);
  const ch = checkTensor(gpu, name, 'h', call.h, [B, H]);
  const into = call.hInto ? checkRows(gpu, name, 'hInto', call.hInto, B, H) : 0;
  const outs: [string, { buffer: GPUBuffer } | undefined][] = [['gates', call.gates], ['cOut', call.cOut], ['h', call.h], ['hInto', call.hInto]];
  for (const o of outs) checkDistinct(name, o, ['c', call.c]);
  const written = outs.filter(([, t]) => t).map(([, t]) => t!.buffer);
  if (new Set(written).size !== written.length) throw new ShapeError(`${name}: gates, cOut, h and hInto need a buffer each`);
  const spare = call.hInto ? null : gpu.alloc(1, `${name}:no-h-into`);
  const flags = (cc ? FLAGS.HAS_C : 0) | (call.hInto ? FLAGS.H_INTO : 0);
  const u = new Uint32Array([B, H, flags, call.hInto?.rowStride ?? 0, cg.offset, cc?.offset ?? 0, cco.offset, ch.offset, into, 0, 0, 0, 0, 0, 0, 0]);
  const k = gpu.kernel({ file: 'lstm', entry: 'lstm_cell', bindings: ['read', 'rw', 'rw', 'rw', 'rw'] });
  gpu.dispatch(k, u, [call.c?.buffer ?? gpu.unused, call.gates.buffer, call.cOut.buffer, call.h.buffer, call.hInto?.buffer ?? spare!], grid2d(gpu, Math.ceil((B * H) / WG)), `${name}[${B}x${H}]`);
  if (spare) gpu.release(spare);
}

/** Records the cell's backward: the gate pre-activation gradients and the previous cell state's. */
export function lstmCellBackward(gpu: Gpu, call: LstmCellBackwardCall): void {
  const name = call.label ?? 'lstmCellBackward';
  const { B, H } = gateDims(name, call.acts.shape);
  const ca = checkTensor(gpu, name, 'acts', call.acts);
  const cc = call.c ? checkTensor(gpu, name, 'c', call.c, [B, H]) : null;
  const cdh = call.dh ? checkTensor(gpu, name, 'dh', call.dh, [B, H]) : null;
  const into = call.dhInto ? checkRows(gpu, name, 'dhInto', call.dhInto, B, H) : 0;
  const cdc = call.dc ? checkTensor(gpu, name, 'dc', call.dc, [B, H]) : null;
  const cdg = checkTensor(gpu, name, 'dgates', call.dgates, [B, 4 * H]);
  const cdp = call.dcPrev ? checkTensor(gpu, name, 'dcPrev', call.dcPrev, [B, H]) : null;
  const ins: [string, { buffer: GPUBuffer } | undefined][] = [['acts', call.acts], ['c', call.c], ['dh', call.dh], ['dhInto', call.dhInto], ['dc', call.dc]];
  checkDistinct(name, ['dgates', call.dgates], ...ins);
  checkDistinct(name, ['dcPrev', call.dcPrev], ...ins, ['dgates', call.dgates]);
  const spare = call.dcPrev ? null : gpu.alloc(1, `${name}:no-dc-prev`);
  const flags = (cc ? FLAGS.HAS_C : 0) | (cdh ? FLAGS.HAS_DH : 0) | (call.dhInto ? FLAGS.DH_INTO : 0) | (cdc ? FLAGS.HAS_DC : 0);
  const u = new Uint32Array([B, H, flags, call.dhInto?.rowStride ?? 0, ca.offset, cc?.offset ?? 0, cdg.offset, 0, into, cdh?.offset ?? 0, cdc?.offset ?? 0, cdp?.offset ?? 0, 0, 0, 0, 0]);
  const k = gpu.kernel({ file: 'lstm', entry: 'lstm_cell_bwd', bindings: ['read', 'read', 'read', 'read', 'read', 'rw', 'rw'] });
  const buffers = [call.acts.buffer, call.c?.buffer ?? gpu.unused, call.dh?.buffer ?? gpu.unused, call.dhInto?.buffer ?? gpu.unused, call.dc?.buffer ?? gpu.unused, call.dgates.buffer, call.dcPrev?.buffer ?? spare!];
  gpu.dispatch(k, u, buffers, grid2d(gpu, Math.ceil((B * H) / WG)), `${name}[${B}x${H}]`);
  if (spare) gpu.release(spare);
}

/** Records d[x | h] = dgates·W (one matmul), dW (+)= dgatesᵀ·[x | h] (one matmul) and db = Σ_rows dgates. */
export function lstmGatesBackward(gpu: Gpu, call: LstmGatesBackwardCall): void {
  const name = call.label ?? 'lstmGatesBackward';
  const { B, H } = gateDims(name, call.dgates.shape);
  const K = call.xh.shape[1]!;
  checkTensor(gpu, name, 'xh', call.xh, [B, K]);
  checkTensor(gpu, name, 'w', call.w, [4 * H, K]);
  if (call.dxh) matmul(gpu, { a: call.dgates, b: call.w, c: call.dxh, accumulate: call.accumulateDxh, label: `${name}.dxh(${B}x${4 * H}→${K})` });
  if (call.dw) matmul(gpu, { a: call.dgates, b: call.xh, c: call.dw, transA: true, accumulate: call.accumulateDw, label: `${name}.dw(${4 * H}x${K})` });
  if (call.dbias) reduceColumns(gpu, 'sum', call.dgates, call.dbias);
}

/** FLOPs of one step (napkin math): the gates matmul, 2·B·4H·(I + H); the cell is O(B·H). The backward's two matmuls are twice that. */
export function lstmStepFlops(B: number, I: number, H: number, pass: 'fwd' | 'bwd'): number {
  return (pass === 'fwd' ? 1 : 2) * 2 * B * 4 * H * (I + H);
}
