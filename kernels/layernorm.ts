// Host side of the layernorm family (shaders/layernorm.wgsl): shape checks, the register-row
// layout of kernels/common.ts, uniforms, dispatch; the backward's dγ, dβ partials are folded by
// the reduce family's column kernel.
import type { Gpu } from '../src/gpu/gpu.ts';
import { ShapeError } from '../src/gpu/errors.ts';
import { checkDistinct, checkTensor, describeShape, ROW_WG, rowLayout, sameShape, type TensorRef } from './common.ts';
import { reduceColumns } from './reduce.ts';

/** PyTorch's default. */
export const LAYERNORM_EPS = 1e-5;

export interface LayernormCall {
  /** Input [..., C]; normalised over the last axis. */
  x: TensorRef;
  gamma: TensorRef;
  beta: TensorRef;
  /** Output, same shape as x. */
  y: TensorRef;
  /** Saved for the backward: one per row of x. */
  mean: TensorRef;
  rstd: TensorRef;
  eps?: number;
  label?: string;
}

export interface LayernormBackwardCall {
  x: TensorRef;
  gamma: TensorRef;
  mean: TensorRef;
  rstd: TensorRef;
  dy: TensorRef;
  dx: TensorRef;
  /** dx += the gradient instead of dx = it. */
  accumulateDx?: boolean;
  /** Overwritten (not accumulated), [C] each. */
  dgamma: TensorRef;
  dbeta: TensorRef;
  label?: string;
}

/**
 * The backward leaving its dγ | dβ partials, [layernormPartialRows(x.shape), 2·C] from `offset`
 * (floats) in `buffer`, for the caller to fold with reduceColumnSegments (one dispatch for the
 * layernorms of a whole backward pass) instead of a column reduction of its own.
 */
export interface LayernormBackwardPartialsCall extends Omit<LayernormBackwardCall, 'dgamma' | 'dbeta'> {
  partials: { buffer: GPUBuffer; offset: number };
}

/** Rows of dγ | dβ partials the backward of x [..., C] leaves (one per workgroup). */
export function layernormPartialRows(gpu: Gpu, shape: readonly number[]): number {
  const L = rowLayout(gpu, 'layernormBackward', shape);
  return Math.ceil(L.rows / L.rpw);
}

type Checked = Record<string, { offset: number; n: number }>;

/** Checks the tensors shared by both passes; returns offsets and the row layout. */
function check(gpu: Gpu, name: string, t: Record<string, TensorRef>, rowShaped: string[]) {
  const c: Checked = {};
  for (const [k, v] of Object.entries(t)) c[k] = checkTensor(gpu, name, k, v);
  const L = rowLayout(gpu, name, t.x!.shape);
  for (const k of rowShaped) {
    if (!sameShape(t.x!.shape, t[k]!.shape)) throw new ShapeError(`${name}: x ${describeShape(t.x!.shape)} and ${k} ${describeShape(t[k]!.shape)} differ in shape`);
  }
  for (const k of ['gamma', 'beta', 'dgamma', 'dbeta']) {
    if (t[k] && c[k]!.n !== L.cols) throw new ShapeError(`${name}: x ${describeShape(t.x!.shape)} has rows of ${L.cols} but ${k} is ${describeShape(t[k]!.shape)}`);
  }
  for (const k of ['mean', 'rstd']) {
    if (c[k]!.n !== L.rows) throw new ShapeError(`${name}: x ${describeShape(t.x!.shape)} has ${L.rows} rows but ${k} is ${describeShape(t[k]!.shape)}`);
  }
  return { c, L };
}

/** Records y = (x − mean)·rstd·γ + β over the last axis, saving mean and rstd per row. */
export function layernorm(gpu: Gpu, call: LayernormCall): void {
  const name = call.label ?? 'layernorm';
  const { x, gamma, beta, y, mean, rstd } = call;
  const { c, L } = check(gpu, name, { x, gamma, beta, y, mean, rstd }, ['y']);
  const ins: [string, TensorRef][] = [['x', x], ['gamma', gamma], ['beta', beta]];
  for (const out of ['y', 'mean', 'rstd'] as const) checkDistinct(name, [out, call[out]], ...ins);
  if (y.buffer === mean.buffer || y.buffer === rstd.buffer || mean.buffer === rstd.buffer) throw new ShapeError(`${name}: y, mean and rstd need a buffer each`);
  const vec4 = L.cols % 4 === 0 && c.x!.offset % 4 === 0 && c.y!.offset % 4 === 0;
  const u = new ArrayBuffer(64);
  const u32 = new Uint32Array(u);
  u32.set([L.rows, L.cols, L.rpw, 0, c.x!.offset, c.gamma!.offset, c.beta!.offset, c.y!.offset, c.mean!.offset, c.rstd!.offset, 0]);
  new Float32Array(u)[11] = call.eps ?? LAYERNORM_EPS;
  const sg = layernormSubgroups(gpu);
  const k = gpu.kernel({
    file: sg ? 'layernorm_sg' : 'layernorm',
    entry: sg ? 'layernorm_fwd_sg' : 'layernorm_fwd',
    defines: { VPT: L.vpt, WG: ROW_WG, VEC4: vec4, ...(sg ? { SG: gpu.subgroupSize } : {}) },
    bindings: ['read', 'read', 'read', 'rw', 'rw', 'rw'],
  });
  gpu.dispatch(k, u32, [x.buffer, gamma.buffer, beta.buffer, y.buffer, mean.buffer, rstd.buffer], L.grid, `${name}${describeShape(x.shape)}`);
}

/**
 * Records dx, dγ = Σ_rows dy·x̂ and dβ = Σ_rows dy from the forward's x, γ, mean and rstd.
 * dγ and dβ are summed per workgroup in row order, then over workgroups in order: the same
 * bits on every run.
 */
export function layernormBackward(gpu: Gpu, call: LayernormBackwardCall): void {
  const name = call.label ?? 'layernormBackward';
  const { dgamma, dbeta } = call;
  const { c, L } = check(gpu, name, { x: call.x, gamma: call.gamma, mean: call.mean, rstd: call.rstd, dy: call.dy, dx: call.dx, dgamma, dbeta }, ['dy', 'dx']);
  const nwg = Math.ceil(L.rows / L.rpw);
  const part = gpu.alloc(2 * nwg * L.cols, `${name}:partials`);
  launchBackward(gpu, name, { ...call, partials: { buffer: part, offset: 0 } });
  // dγ and dβ in one column reduction over [nwg, 2·cols]: straight into place when dβ follows dγ
  // in one buffer (a parameter arena lays out a layernorm's weight and bias so), else through
  // scratch and two buffer copies.
  const cols2 = { buffer: part, shape: [nwg, 2 * L.cols] };
  if (dbeta.buffer === dgamma.buffer && c.dbeta!.offset === c.dgamma!.offset + L.cols) {
    reduceColumns(gpu, 'sum', cols2, { buffer: dgamma.buffer, shape: [2 * L.cols], offset: c.dgamma!.offset });
  } else {
    const both = gpu.alloc(2 * L.cols, `${name}:dgamma_dbeta`);
    reduceColumns(gpu, 'sum', cols2, { buffer: both, shape: [2 * L.cols] });
    gpu.copy(both, dgamma.buffer, L.cols * 4, 0, c.dgamma!.offset * 4);
    gpu.copy(both, dbeta.buffer, L.cols * 4, L.cols * 4, c.dbeta!.offset * 4);
    gpu.release(both);
  }
  gpu.release(part);
}

/** The backward with its dγ | dβ partials left in the caller's buffer (LayernormBackwardPartialsCall). */
export function layernormBackwardPartials(gpu: Gpu, call: LayernormBackwardPartialsCall): void {
  const name = call.label ?? 'layernormBackward';
  const rows = layernormPartialRows(gpu, call.x.shape);
  const C = rowLayout(gpu, name, call.x.shape).cols;
  const { offset, buffer } = call.partials;
  if (!Number.isInteger(offset) || offset < 0 || (offset + 2 * rows * C) * 4 > buffer.size) throw new ShapeError(`${name}: partials of [${rows}, ${2 * C}] from float ${offset} do not fit their buffer (${buffer.size / 4} floats)`);
  launchBackward(gpu, name, call);
}

function launchBackward(gpu: Gpu, name: string, call: LayernormBackwardPartialsCall): void {
  const { x, gamma, mean, rstd, dy, dx } = call;
  const { c, L } = check(gpu, name, { x, gamma, mean, rstd, dy, dx }, ['dy', 'dx']);
  checkDistinct(name, ['dx', dx], ['x', x], ['gamma', gamma], ['mean', mean], ['rstd', rstd], ['dy', dy]);
  for (const [k, t] of [['x', x], ['gamma', gamma], ['mean', mean], ['rstd', rstd], ['dy', dy], ['dx', dx]] as const) {
    if (t.buffer === call.partials.buffer) throw new ShapeError(`${name}: the partials need a buffer of their own, not ${k}'s`);
  }
  // Workgroups past the last row (the 2-D grid rounds up) write no partials.
  const nwg = Math.ceil(L.rows / L.rpw);
  const vec4 = L.cols % 4 === 0 && c.x!.offset % 4 === 0 && c.dy!.offset % 4 === 0 && c.dx!.offset % 4 === 0;
  const u = new ArrayBuffer(64);
  const u32 = new Uint32Array(u);
  u32.set([L.rows, L.cols, L.rpw, nwg, c.x!.offset, c.gamma!.offset, 0, c.dx!.offset, c.mean!.offset, c.rstd!.offset, c.dy!.offset]);
  u32[12] = call.accumulateDx ? 1 : 0;
  u32[13] = call.partials.offset;
  const sg = layernormSubgroups(gpu);
  const k = gpu.kernel({
    file: sg ? 'layernorm_sg' : 'layernorm',
    entry: sg ? 'layernorm_bwd_sg' : 'layernorm_bwd',
    defines: { VPT: L.vpt, WG: ROW_WG, VEC4: vec4, ...(sg ? { SG: gpu.subgroupSize } : {}) },
    bindings: ['read', 'read', 'read', 'read', 'read', 'rw', 'rw'],
  });
  gpu.dispatch(k, u32, [x.buffer, gamma.buffer, mean.buffer, rstd.buffer, dy.buffer, dx.buffer, call.partials.buffer], L.grid, `${name}${describeShape(x.shape)}`);
}

/**
 * Whether layernorm's kernels run as one subgroup per workgroup without barriers (layernorm_sg.wgsl,
 * the same bits): where the subgroup size is fixed and divides the row's ROW_WG invocations.
 * COCA_LN_SG=0 turns it off. scripts/ab-layernorm-bwd.ts (lavapipe, alternating, GPU timestamps):
 * the backward at [2080, 128] 3.87 → 1.05 ms, at [1024, 128] 1.97 → 0.72 ms.
 */
export function layernormSubgroups(gpu: Gpu): boolean {
  return gpu.subgroupSize > 0 && ROW_WG % gpu.subgroupSize === 0 && gpu.setting('COCA_LN_SG') !== '0';
}

/** Bytes of one call (napkin math): forward reads x, writes y (+ γ, β, mean, rstd, small). */
export function layernormBytes(rows: number, cols: number, pass: 'fwd' | 'bwd'): number {
  return pass === 'fwd' ? 4 * (2 * rows * cols + 2 * cols + 2 * rows) : 4 * (3 * rows * cols + cols + 2 * rows + 2 * cols);
}
