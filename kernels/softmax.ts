// Host side of the softmax family (shaders/softmax.wgsl): shape checks, uniforms, dispatch over
// the register-row layout of kernels/common.ts.
//
// No model path runs it: attention fuses its softmax (attention.wgsl online, attention_rows.wgsl
// attn_softmax on the unfused path, one thread per row with the causal offset and key padding)
// and so does cross-entropy. It stays as the row-wise reference point of `coca bench softmax`,
// per byte against layernorm, so it takes only what that needs: a scale, no masks.
import type { Gpu } from '../src/gpu/gpu.ts';
import { ShapeError } from '../src/gpu/errors.ts';
import { checkDistinct, checkTensor, describeShape, ROW_WG, rowLayout, sameShape, type RowLayout, type TensorRef } from './common.ts';

export interface SoftmaxCall {
  /** Input [..., cols]; softmax over the last axis. */
  x: TensorRef;
  /** Output, same shape as x, another buffer. */
  y: TensorRef;
  /** Multiplies x first. */
  scale?: number;
  label?: string;
}

/** Records y = softmax(scale·x) over the last axis. A row of −∞ gives 0. */
export function softmax(gpu: Gpu, c: SoftmaxCall): void {
  const name = c.label ?? 'softmax';
  const xs = checkTensor(gpu, name, 'x', c.x);
  const ys = checkTensor(gpu, name, 'y', c.y);
  if (!sameShape(c.x.shape, c.y.shape)) throw new ShapeError(`${name}: x ${describeShape(c.x.shape)} and y ${describeShape(c.y.shape)} differ in shape`);
  checkDistinct(name, ['y', c.y], ['x', c.x]);
  const L = rowLayout(gpu, name, c.x.shape);
  const vec4 = L.cols % 4 === 0 && xs.offset % 4 === 0 && ys.offset % 4 === 0;
  const k = gpu.kernel({ file: 'softmax', entry: 'softmax_fwd', defines: { VPT: L.vpt, WG: ROW_WG, VEC4: vec4 }, bindings: ['read', 'read', 'rw'] });
  gpu.dispatch(k, params(L, xs.offset, 0, ys.offset, c.scale ?? 1), [c.x.buffer, gpu.unused, c.y.buffer], L.grid, `${name}${describeShape(c.x.shape)}`);
}

/** The shaders' Params: rows, cols, rows per workgroup, a zero, the three offsets, scale. */
function params(L: RowLayout, offA: number, offB: number, offOut: number, scale: number): Uint32Array {
  const u32 = new Uint32Array(8);
  u32.set([L.rows, L.cols, L.rpw, 0, offA, offB, offOut]);
  new Float32Array(u32.buffer)[7] = scale;
  return u32;
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
  const k = gpu.kernel({ file: 'softmax', entry: 'softmax_bwd', defines: { VPT: L.vpt, WG: ROW_WG, VEC4: vec4 }, bindings: ['read', 'read', 'rw'] });
  gpu.dispatch(k, params(L, ys.offset, ds.offset, xs.offset, c.scale ?? 1), [c.y.buffer, c.dy.buffer, c.dx.buffer], L.grid, `${name}${describeShape(c.y.shape)}`);
}
