// Host side of the softmax family (shaders/softmax.wgsl): shape checks, uniforms, dispatch over
// the register-row layout of kernels/common.ts.
import type { Gpu } from '../src/gpu/gpu.ts';
import { ShapeError } from '../src/gpu/errors.ts';
import { checkDistinct, checkTensor, describeShape, ROW_WG, rowLayout, rowsCols, sameShape, type TensorRef } from './common.ts';

export interface SoftmaxMask {
  /** Additive mask [maskRows, cols] (0 to keep, −∞ or a large negative number to drop). */
  mask: TensorRef;
  /** Row r of x uses mask row ⌊r / rowDiv⌋ mod maskRows (default 1). */
  rowDiv?: number;
}

export interface SoftmaxCall {
  /** Input [..., cols]; softmax over the last axis. */
  x: TensorRef;
  /** Output, same shape as x, another buffer. */
  y: TensorRef;
  /** Multiplies x before the mask is added (attention's 1/√d). */
  scale?: number;
  mask?: SoftmaxMask;
  /** Drop columns c > r mod cols (square [.., T, T] attention rows) without reading a mask. */
  causal?: boolean;
  label?: string;
}

/** Records y = softmax(scale·x + mask) over the last axis. Fully masked rows give 0. */
export function softmax(gpu: Gpu, c: SoftmaxCall): void {
  const name = c.label ?? 'softmax';
  const xs = checkTensor(gpu, name, 'x', c.x);
  const ys = checkTensor(gpu, name, 'y', c.y);
  if (!sameShape(c.x.shape, c.y.shape)) throw new ShapeError(`${name}: x ${describeShape(c.x.shape)} and y ${describeShape(c.y.shape)} differ in shape`);
  checkDistinct(name, ['y', c.y], ['x', c.x], ...(c.mask ? [['mask', c.mask.mask] as [string, TensorRef]] : []));
  const L = rowLayout(gpu, name, c.x.shape);
  let ms = { offset: 0, n: 0 };
  let maskRows = 1;
  const rowDiv = c.mask?.rowDiv ?? 1;
  if (c.mask) {
    ms = checkTensor(gpu, name, 'mask', c.mask.mask);
    const [mr, mc] = rowsCols(c.mask.mask.shape);
    if (mc !== L.cols) throw new ShapeError(`${name}: mask ${describeShape(c.mask.mask.shape)} has rows of ${mc} but x ${describeShape(c.x.shape)} has rows of ${L.cols}`);
    if (!Number.isInteger(rowDiv) || rowDiv < 1) throw new ShapeError(`${name}: mask rowDiv ${rowDiv} must be a positive integer`);
    maskRows = mr;
  }
  const vec4 = L.cols % 4 === 0 && xs.offset % 4 === 0 && ys.offset % 4 === 0 && ms.offset % 4 === 0;
  const u = new ArrayBuffer(48);
  const u32 = new Uint32Array(u);
  u32.set([L.rows, L.cols, L.rpw, (c.mask ? 1 : 0) | (c.causal ? 2 : 0), xs.offset, ms.offset, ys.offset, maskRows, rowDiv]);
  new Float32Array(u)[9] = c.scale ?? 1;
  const k = gpu.kernel({ file: 'softmax', entry: vec4 ? 'softmax_fwd_v4' : 'softmax_fwd_s', defines: { VPT: L.vpt, WG: ROW_WG }, bindings: ['read', 'read', 'rw'] });
  gpu.dispatch(k, u32, [c.x.buffer, c.mask?.mask.buffer ?? gpu.unused, c.y.buffer], L.grid, `${name}${describeShape(c.x.shape)}`);
}

export interface SoftmaxBackwardCall {
  /** The forward's output [..., cols]. */
  y: TensorRef;
  /** Upstream gradient, same shape. */
  dy: TensorRef;
  /** Gradient of the forward's x, same shape, its own buffer. */
  dx: TensorRef;
  /** The forward's scale (dx is the gradient with respect to x, before scaling). */
  scale?: number;
  label?: string;
}

/** Records dx = scale · y ⊙ (dy − Σ_c y·dy). The mask gets no gradient. */
export function softmaxBackward(gpu: Gpu, c: SoftmaxBackwardCall): void {
  const name = c.label ?? 'softmaxBackward';
  const ys = checkTensor(gpu, name, 'y', c.y);
  const ds = checkTensor(gpu, name, 'dy', c.dy);
  const xs = checkTensor(gpu, name, 'dx', c.dx);
  for (const [n, t] of [['dy', c.dy], ['dx', c.dx]] as const) {
    if (!sameShape(c.y.shape, t.shape)) throw new ShapeError(`${name}: y ${describeShape(c.y.shape)} and ${n} ${describeShape(t.shape)} differ in shape`);
  }
  checkDistinct(name, ['dx', c.dx], ['y', c.y], ['dy', c.dy]);
  const L = rowLayout(gpu, name, c.y.shape);
  const vec4 = L.cols % 4 === 0 && ys.offset % 4 === 0 && ds.offset % 4 === 0 && xs.offset % 4 === 0;
  const u = new ArrayBuffer(48);
  const u32 = new Uint32Array(u);
  u32.set([L.rows, L.cols, L.rpw, 0, ys.offset, ds.offset, xs.offset, 1, 1]);
  new Float32Array(u)[9] = c.scale ?? 1;
  const k = gpu.kernel({ file: 'softmax', entry: vec4 ? 'softmax_bwd_v4' : 'softmax_bwd_s', defines: { VPT: L.vpt, WG: ROW_WG }, bindings: ['read', 'read', 'rw'] });
  gpu.dispatch(k, u32, [c.y.buffer, c.dy.buffer, c.dx.buffer], L.grid, `${name}${describeShape(c.y.shape)}`);
}
