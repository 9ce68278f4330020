// Host side of the pooling family (shaders/pool.wgsl): 2-D max pooling with stride and padding
// (forward saving the argmax, backward routing dy through it) and global average pooling, over
// NCHW tensors. Shape checks, uniforms, dispatch.
import type { Gpu } from '../src/gpu/gpu.ts';
import { ShapeError } from '../src/gpu/errors.ts';
import { checkDistinct, checkTensor, describeShape, grid2d, type TensorRef } from './common.ts';

const WG = 64;
/** Rows per invocation (max pooling) and elements per invocation (gap_bwd): shaders/pool.wgsl's RPI, EPT. */
const RPI = 4;
const EPT = 16;

export interface MaxPool2dGeometry {
  /** Window: one number for both axes, or [height, width]. */
  kernel: number | readonly [number, number];
  /** Default: the kernel (PyTorch's default). */
  stride?: number | readonly [number, number];
  /** −∞ padding, at most half the kernel (PyTorch's rule: every window then holds a pixel). */
  padding?: number | readonly [number, number];
}

export interface MaxPool2dCall extends MaxPool2dGeometry {
  /** [B, C, H, W] */
  x: TensorRef;
  /** [B, C, OH, OW] */
  y: TensorRef;
  /** Shaped as y, holding u32s: each output's argmax as ih·W + iw within its plane (PyTorch's return_indices). */
  indices: TensorRef;
  label?: string;
}

export interface MaxPool2dBackwardCall extends MaxPool2dGeometry {
  dy: TensorRef;
  indices: TensorRef;
  /** [B, C, H, W] */
  dx: TensorRef;
  /** dx += the gradient instead of dx = it. */
  accumulate?: boolean;
  label?: string;
}

export interface Pool2dDims {
  planes: number;
  H: number;
  W: number;
  OH: number;
  OW: number;
  KH: number;
  KW: number;
  sh: number;
  sw: number;
  ph: number;
  pw: number;
}

const pair = (v: number | readonly [number, number] | undefined, dflt: [number, number]): [number, number] => (v === undefined ? dflt : typeof v === 'number' ? [v, v] : [v[0], v[1]]);

/** Dims of a max pool over x [B, C, H, W], or a ShapeError naming what does not fit. */
export function maxPool2dDims(op: string, xShape: readonly number[], g: MaxPool2dGeometry): Pool2dDims {
  if (xShape.length !== 4) throw new ShapeError(`${op}: x ${describeShape(xShape)} must be [batch, channels, height, width]`);
  const [B, C, H, W] = xShape as [number, number, number, number];
  const [KH, KW] = pair(g.kernel, [1, 1]);
  const [sh, sw] = pair(g.stride, [KH, KW]);
  const [ph, pw] = pair(g.padding, [0, 0]);
  for (const [what, v, min] of [['kernel', KH, 1], ['kernel', KW, 1], ['stride', sh, 1], ['stride', sw, 1], ['padding', ph, 0], ['padding', pw, 0]] as const) {
    if (!Number.isInteger(v) || v < min) throw new ShapeError(`${op}: ${what} ${v} must be a whole number ≥ ${min}`);
  }
  if (2 * ph > KH || 2 * pw > KW) throw new ShapeError(`${op}: padding ${ph}x${pw} is more than half the ${KH}x${KW} window; a window could then hold only padding`);
  const OH = Math.floor((H + 2 * ph - KH) / sh) + 1;
  const OW = Math.floor((W + 2 * pw - KW) / sw) + 1;
  if (!(OH >= 1 && OW >= 1)) throw new ShapeError(`${op}: a ${KH}x${KW} window does not fit x ${describeShape(xShape)} padded by ${ph}x${pw}`);
  return { planes: B * C, H, W, OH, OW, KH, KW, sh, sw, ph, pw };
}

/** Planes along grid z (max pooling's x and y run over a plane's pixels). */
function planeGrid(gpu: Gpu, op: string, d: Pool2dDims, w: number, h: number): [number, number, number] {
  const max = gpu.limits.maxComputeWorkgroupsPerDimension;
  if (d.planes > max) throw new ShapeError(`${op}: ${d.planes} planes (batch x channels) exceed the adapter's ${max} workgroups per dimension; split the batch`);
  return [Math.ceil(w / 8), Math.ceil(h / (8 * RPI)), d.planes];
}

/** gap_bwd's grid: chunks of a plane along x, planes along y folded into z past the limit. */
function gapGrid(gpu: Gpu, d: Pool2dDims): [number, number, number] {
  const max = gpu.limits.maxComputeWorkgroupsPerDimension;
  const y = Math.min(d.planes, max);
  return [Math.ceil((d.H * d.W) / (WG * EPT)), y, Math.ceil(d.planes / y)];
}

function uniforms(d: Pool2dDims, n: number, flags: number, offIn: number, offOut: number, offIdx: number): Uint32Array {
  return new Uint32Array([d.planes, d.H, d.W, d.OH, d.OW, d.KH, d.KW, d.sh, d.sw, d.ph, d.pw, flags, n, offIn, offOut, offIdx]);
}

/** Records y = max over each window of x and the argmax of each (the first in scan order on ties). */
export function maxPool2d(gpu: Gpu, call: MaxPool2dCall): void {
  const name = call.label ?? 'maxPool2d';
  const d = maxPool2dDims(name, call.x.shape, call);
  const yShape = [call.x.shape[0]!, call.x.shape[1]!, d.OH, d.OW];
  const cx = checkTensor(gpu, name, 'x', call.x);
  const cy = checkTensor(gpu, name, 'y', call.y, yShape);
  const ci = checkTensor(gpu, name, 'indices', call.indices, yShape);
  checkDistinct(name, ['y', call.y], ['x', call.x]);
  checkDistinct(name, ['indices', call.indices], ['x', call.x], ['y', call.y]);
  const k = gpu.kernel({ file: 'pool', entry: 'maxpool_fwd', bindings: ['read', 'rw', 'rw'] });
  gpu.dispatch(k, uniforms(d, cy.n, 0, cx.offset, cy.offset, ci.offset), [call.x.buffer, call.y.buffer, call.indices.buffer], planeGrid(gpu, name, d, d.OW, d.OH), `${name}${describeShape(call.x.shape)}`);
}

/** Records dx (+)= dy routed to each window's argmax, summed where windows overlap. */
export function maxPool2dBackward(gpu: Gpu, call: MaxPool2dBackwardCall): void {
  const name = call.label ?? 'maxPool2dBackward';
  const d = maxPool2dDims(name, call.dx.shape, call);
  const yShape = [call.dx.shape[0]!, call.dx.shape[1]!, d.OH, d.OW];
  const cdy = checkTensor(gpu, name, 'dy', call.dy, yShape);
  const ci = checkTensor(gpu, name, 'indices', call.indices, yShape);
  const cdx = checkTensor(gpu, name, 'dx', call.dx);
  checkDistinct(name, ['dx', call.dx], ['dy', call.dy], ['indices', call.indices]);
  const k = gpu.kernel({ file: 'pool', entry: 'maxpool_bwd', bindings: ['read', 'read', 'rw'] });
  gpu.dispatch(k, uniforms(d, cdx.n, call.accumulate ? 1 : 0, cdy.offset, cdx.offset, ci.offset), [call.dy.buffer, call.indices.buffer, call.dx.buffer], planeGrid(gpu, name, d, d.W, d.H), `${name}${describeShape(call.dx.shape)}`);
}

function gapDims(op: string, xShape: readonly number[], yShape: readonly number[]): Pool2dDims {
  if (xShape.length !== 4) throw new ShapeError(`${op}: x ${describeShape(xShape)} must be [batch, channels, height, width]`);
  const [B, C, H, W] = xShape as [number, number, number, number];
  if (yShape.length !== 2 || yShape[0] !== B || yShape[1] !== C) throw new ShapeError(`${op}: the pooled ${describeShape(yShape)} should be [${B}, ${C}] for x ${describeShape(xShape)}`);
  return { planes: B * C, H, W, OH: 1, OW: 1, KH: H, KW: W, sh: 1, sw: 1, ph: 0, pw: 0 };
}

/** Records y [B, C] = the mean of each H x W plane of x [B, C, H, W]. */
export function globalAvgPool(gpu: Gpu, call: { x: TensorRef; y: TensorRef; label?: string }): void {
  const name = call.label ?? 'globalAvgPool';
  const d = gapDims(name, call.x.shape, call.y.shape);
  const cx = checkTensor(gpu, name, 'x', call.x);
  const cy = checkTensor(gpu, name, 'y', call.y);
  checkDistinct(name, ['y', call.y], ['x', call.x]);
  const k = gpu.kernel({ file: 'pool', entry: 'gap_fwd', bindings: ['read', 'rw'] });
  gpu.dispatch(k, uniforms(d, d.planes, 0, cx.offset, cy.offset, 0), [call.x.buffer, call.y.buffer], grid2d(gpu, d.planes), `${name}${describeShape(call.x.shape)}`);
}

/** Records dx [B, C, H, W] (+)= dy [B, C] / (H·W) spread over each plane. */
export function globalAvgPoolBackward(gpu: Gpu, call: { dy: TensorRef; dx: TensorRef; accumulate?: boolean; label?: string }): void {
  const name = call.label ?? 'globalAvgPoolBackward';
  const d = gapDims(name, call.dx.shape, call.dy.shape);
  const cdy = checkTensor(gpu, name, 'dy', call.dy);
  const cdx = checkTensor(gpu, name, 'dx', call.dx);
  checkDistinct(name, ['dx', call.dx], ['dy', call.dy]);
  const k = gpu.kernel({ file: 'pool', entry: 'gap_bwd', bindings: ['read', 'rw'] });
  gpu.dispatch(k, uniforms(d, cdx.n, call.accumulate ? 1 : 0, cdy.offset, cdx.offset, 0), [call.dy.buffer, call.dx.buffer], gapGrid(gpu, d), `${name}${describeShape(call.dx.shape)}`);
}

/** Bytes of one call (napkin math): max pool reads x, writes y and indices; its backward reads dy and indices (about once per window), writes dx. */
export function poolBytes(which: 'maxFwd' | 'maxBwd' | 'gapFwd' | 'gapBwd', inputs: number, outputs: number): number {
  if (which === 'maxFwd') return 4 * (inputs + 2 * outputs);
  if (which === 'maxBwd') return 4 * (2 * outputs + inputs);
  return 4 * (inputs + outputs);
}
