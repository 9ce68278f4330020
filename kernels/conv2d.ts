// Host side of the conv2d family (shaders/conv2d.wgsl): NCHW convolution with stride and zero
// padding as an implicit GEMM, forward and backward (dx, dw, dbias). Shape checks, the GEMM view
// of each pass, the split of dw's long K over workgroups, uniforms, dispatch.
//
// NCHW (and weights [Cout, Cin, KH, KW]) because that is PyTorch's layout: the PyTorch reference
// models and any torchvision-style checkpoint read and write these tensors as they are, with no
// transpose at either border. The cost NHWC would avoid is the gather's stride: in NCHW the K
// index of the forward walks channel planes rather than adjacent floats. On a software adapter
// every load is a gather anyway; on a real GPU the column index (adjacent output pixels) is the
// one neighbouring invocations share, and that stays contiguous in NCHW.
import type { Gpu } from '../src/gpu/gpu.ts';
import { ShapeError } from '../src/gpu/errors.ts';
import { checkDistinct, checkTensor, describeShape, type TensorRef } from './common.ts';
import { matmulVariantAvailable } from './matmul.ts';
import { reduceColumns } from './reduce.ts';

/**
 * regblock: 8x8 outputs per invocation straight from storage (shaders/conv2d.wgsl), for any
 * adapter. subgroup: 32x8 per lane with the A operand shared by subgroupBroadcast
 * (shaders/conv2d_subgroups.wgsl), for software adapters, which are load-bound.
 */
export const CONV2D_VARIANTS = ['regblock', 'subgroup'] as const;
export type Conv2dVariant = (typeof CONV2D_VARIANTS)[number];

/** Stride and padding: one number for both axes, or [along H, along W]. */
export interface Conv2dGeometry {
  stride?: number | readonly [number, number];
  padding?: number | readonly [number, number];
}

export interface Conv2dCall extends Conv2dGeometry {
  /** [B, Cin, H, W] */
  x: TensorRef;
  /** [Cout, Cin, KH, KW] */
  w: TensorRef;
  /** [Cout], added to every output pixel of its channel. */
  bias?: TensorRef;
  /** [B, Cout, OH, OW] */
  y: TensorRef;
  /** y += the convolution instead of y = it. */
  accumulate?: boolean;
  /** Forces a variant (default: chooseConv2dVariant per pass). */
  variant?: Conv2dVariant;
  label?: string;
}

export interface Conv2dBackwardCall extends Conv2dGeometry {
  x: TensorRef;
  w: TensorRef;
  /** [B, Cout, OH, OW] */
  dy: TensorRef;
  /** [B, Cin, H, W]; skipped when absent. */
  dx?: TensorRef;
  /** dx += the gradient instead of dx = it. */
  accumulateDx?: boolean;
  /** [Cout, Cin, KH, KW], overwritten; skipped when absent (unless dbias is asked for). */
  dw?: TensorRef;
  /** [Cout], overwritten. Written straight into place when it follows dw in one buffer. */
  dbias?: TensorRef;
  /** Forces a variant for both passes (default: chooseConv2dVariant per pass). */
  variant?: Conv2dVariant;
  label?: string;
}

export interface Conv2dDims {
  B: number;
  Cin: number;
  H: number;
  W: number;
  Cout: number;
  KH: number;
  KW: number;
  OH: number;
  OW: number;
  sh: number;
  sw: number;
  ph: number;
  pw: number;
}

/** Outputs one workgroup covers, [along M, along N]. */
function tile(gpu: Gpu, v: Conv2dVariant): [number, number] {
  return v === 'subgroup' ? [32, 2 * gpu.subgroupSize * 8] : [64, 64];
}

/**
 * The variant for a pass whose GEMM has M rows, as matmul chooses: the subgroup kernel on a
 * software adapter where subgroups have a fixed size and M fills its 32-row tile halfway, the
 * register block elsewhere (no workgroup-memory variant yet for real GPUs).
 */
export function chooseConv2dVariant(gpu: Gpu, M: number): Conv2dVariant {
  return gpu.software && matmulVariantAvailable(gpu, 'subgroup') && M >= 16 ? 'subgroup' : 'regblock';
}

function spec(gpu: Gpu, v: Conv2dVariant, pass: 'fwd' | 'dx' | 'dw', bindings: ('read' | 'rw')[]) {
  if (v === 'regblock') return { file: 'conv2d', entry: `conv2d_${pass}`, bindings };
  if (!matmulVariantAvailable(gpu, 'subgroup')) throw new ShapeError('conv2d: variant subgroup needs subgroups of a fixed size, which this adapter lacks; use regblock');
  return { file: 'conv2d_subgroups', entry: `conv2d_${pass}_sg`, defines: { SG: gpu.subgroupSize }, bindings };
}

const pair = (v: number | readonly [number, number] | undefined, dflt: number): [number, number] => (v === undefined ? [dflt, dflt] : typeof v === 'number' ? [v, v] : [v[0], v[1]]);

/** Output height and width, or a ShapeError naming what does not fit. */
export function conv2dDims(op: string, xShape: readonly number[], wShape: readonly number[], g: Conv2dGeometry): Conv2dDims {
  if (xShape.length !== 4) throw new ShapeError(`${op}: x ${describeShape(xShape)} must be [batch, channels, height, width]`);
  if (wShape.length !== 4) throw new ShapeError(`${op}: w ${describeShape(wShape)} must be [out channels, in channels, kernel height, kernel width]`);
  const [B, Cin, H, W] = xShape as [number, number, number, number];
  const [Cout, Cw, KH, KW] = wShape as [number, number, number, number];
  if (Cw !== Cin) throw new ShapeError(`${op}: x ${describeShape(xShape)} has ${Cin} channels but w ${describeShape(wShape)} takes ${Cw}`);
  const [sh, sw] = pair(g.stride, 1);
  const [ph, pw] = pair(g.padding, 0);
  for (const [what, v, min] of [['stride', sh, 1], ['stride', sw, 1], ['padding', ph, 0], ['padding', pw, 0]] as const) {
    if (!Number.isInteger(v) || v < min) throw new ShapeError(`${op}: ${what} ${v} must be a whole number ≥ ${min}`);
  }
  const OH = Math.floor((H + 2 * ph - KH) / sh) + 1;
  const OW = Math.floor((W + 2 * pw - KW) / sw) + 1;
  if (!(OH >= 1 && OW >= 1)) throw new ShapeError(`${op}: a ${KH}x${KW} kernel does not fit x ${describeShape(xShape)} padded by ${ph}x${pw}`);
  return { B, Cin, H, W, Cout, KH, KW, OH, OW, sh, sw, ph, pw };
}

/** The GEMM each pass is: fwd Cout × B·OH·OW × Cin·KH·KW, dx Cin × B·H·W × Cout·KH·KW, dw Cout × Cin·KH·KW × B·OH·OW. */
export function conv2dGemm(d: Conv2dDims, pass: 'fwd' | 'dx' | 'dw'): { M: number; N: number; K: number } {
  const khw = d.KH * d.KW;
  if (pass === 'fwd') return { M: d.Cout, N: d.B * d.OH * d.OW, K: d.Cin * khw };
  if (pass === 'dx') return { M: d.Cin, N: d.B * d.H * d.W, K: d.Cout * khw };
  return { M: d.Cout, N: d.Cin * khw, K: d.B * d.OH * d.OW };
}

/** FLOPs of one pass: 2·M·N·K of its GEMM (every pass has the same count, 2·B·Cout·OH·OW·Cin·KH·KW). */
export function conv2dFlops(d: Conv2dDims): number {
  const { M, N, K } = conv2dGemm(d, 'fwd');
  return 2 * M * N * K;
}

function uniforms(d: Conv2dDims, g: { M: number; N: number; K: number }, flags: number, off: { x: number; w: number; bias: number; y: number; part?: number }, kSlice = 0, partStride = 0): Uint32Array {
  return new Uint32Array([
    d.B, d.Cin, d.H, d.W,
    d.Cout, d.KH, d.KW, d.OH,
    d.OW, d.sh, d.sw, d.ph,
    d.pw, flags, g.M, g.N,
    g.K, off.x, off.w, off.bias,
    off.y, kSlice, partStride, off.part ?? 0,
  ]);
}

function grid(gpu: Gpu, v: Conv2dVariant, op: string, M: number, N: number, z = 1): [number, number, number] {
  const [tm, tn] = tile(gpu, v);
  const g: [number, number, number] = [Math.ceil(N / tn), Math.ceil(M / tm), z];
  const max = gpu.limits.maxComputeWorkgroupsPerDimension;
  if (g[0] > max || g[1] > max) throw new ShapeError(`${op}: a ${M}x${N} implicit GEMM needs ${g[0]}x${g[1]} workgroups, over the adapter's ${max} per dimension; split the batch`);
  return g;
}

const HAS_BIAS = 1;
const ACCUMULATE = 2;

/** Records y = conv2d(x, w) (+ bias) (+ y). Checks every shape first. */
export function conv2d(gpu: Gpu, call: Conv2dCall): void {
  const name = call.label ?? 'conv2d';
  const d = conv2dDims(name, call.x.shape, call.w.shape, call);
  const cx = checkTensor(gpu, name, 'x', call.x);
  const cw = checkTensor(gpu, name, 'w', call.w);
  const cy = checkTensor(gpu, name, 'y', call.y, [d.B, d.Cout, d.OH, d.OW]);
  const cb = call.bias ? checkTensor(gpu, name, 'bias', call.bias, [d.Cout]) : null;
  checkDistinct(name, ['y', call.y], ['x', call.x], ['w', call.w], ['bias', call.bias]);
  const g = conv2dGemm(d, 'fwd');
  const flags = (cb ? HAS_BIAS : 0) | (call.accumulate ? ACCUMULATE : 0);
  const u = uniforms(d, g, flags, { x: cx.offset, w: cw.offset, bias: cb?.offset ?? 0, y: cy.offset });
  const v = call.variant ?? chooseConv2dVariant(gpu, g.M);
  const k = gpu.kernel(spec(gpu, v, 'fwd', ['read', 'read', 'read', 'rw']));
  gpu.dispatch(k, u, [call.x.buffer, call.w.buffer, call.bias?.buffer ?? gpu.unused, call.y.buffer], grid(gpu, v, name, g.M, g.N), `${name}${describeShape(call.x.shape)}*${describeShape(call.w.shape)}`);
}

/**
 * Slices of dw's K = B·OH·OW: enough workgroups to fill the device when Cout × Cin·KH·KW alone
 * makes few tiles, each slice at least 256 long so the partials stay small beside the work.
 */
export function conv2dDwSlices(gpu: Gpu, M: number, N: number, K: number, v: Conv2dVariant = chooseConv2dVariant(gpu, M)): { slices: number; kSlice: number } {
  const [tm, tn] = tile(gpu, v);
  const tiles = Math.ceil(M / tm) * Math.ceil(N / tn);
  const want = Math.ceil((gpu.software ? 16 : 1024) / tiles);
  const s = Math.max(1, Math.min(want, Math.floor(K / 256), gpu.limits.maxComputeWorkgroupsPerDimension));
  const kSlice = Math.ceil(K / s);
  return { slices: Math.ceil(K / kSlice), kSlice };
}

/**
 * Records the gradients of y = conv2d(x, w) + bias from dy: dx (a gather over the output pixels
 * each input pixel feeds, one GEMM per stride phase over the taps that reach it), dw and dbias (one GEMM, split along B·OH·OW and folded in a fixed
 * order: the same bits on every run).
 */
export function conv2dBackward(gpu: Gpu, call: Conv2dBackwardCall): void {
  const name = call.label ?? 'conv2dBackward';
  const d = conv2dDims(name, call.x.shape, call.w.shape, call);
  const cx = checkTensor(gpu, name, 'x', call.x);
  const cw = checkTensor(gpu, name, 'w', call.w);
  const cdy = checkTensor(gpu, name, 'dy', call.dy, [d.B, d.Cout, d.OH, d.OW]);
  const shapeLabel = `${describeShape(call.x.shape)}*${describeShape(call.w.shape)}`;
  if (call.dx) {
    const cdx = checkTensor(gpu, name, 'dx', call.dx, call.x.shape);
    checkDistinct(name, ['dx', call.dx], ['dy', call.dy], ['w', call.w]);
    const g = conv2dGemm(d, 'dx');
    const u = uniforms(d, g, call.accumulateDx ? ACCUMULATE : 0, { x: cdx.offset, w: cw.offset, bias: 0, y: cdy.offset });
    const v = call.variant ?? chooseConv2dVariant(gpu, g.M);
    const k = gpu.kernel(spec(gpu, v, 'dx', ['read', 'read', 'rw']));
    // One GEMM per stride phase (grid z), each over the pixels of that phase: at most
    // ⌈H/sh⌉·⌈W/sw⌉ of an image (shaders/conv2d_common.wgsl, dx_axis).
    const perPhase = d.B * Math.ceil(d.H / d.sh) * Math.ceil(d.W / d.sw);
    gpu.dispatch(k, u, [call.dy.buffer, call.w.buffer, call.dx.buffer], grid(gpu, v, name, g.M, perPhase, d.sh * d.sw), `${name}.dx${shapeLabel}`);
  }
  if (!call.dw && !call.dbias) return;
  const g = conv2dGemm(d, 'dw');
  const dw = call.dw ?? { buffer: gpu.alloc(g.M * g.N, `${name}:dw-scratch`), shape: call.w.shape };
  const cdw = checkTensor(gpu, name, 'dw', dw, call.w.shape);
  const cdb = call.dbias ? checkTensor(gpu, name, 'dbias', call.dbias, [d.Cout]) : null;
  for (const [what, t] of [['dw', dw], ['dbias', call.dbias]] as const) checkDistinct(name, [what, t], ['dy', call.dy], ['x', call.x]);
  const v = call.variant ?? chooseConv2dVariant(gpu, g.M);
  const { slices, kSlice } = conv2dDwSlices(gpu, g.M, g.N, g.K, v);
  const stride = g.M * g.N + (cdb ? g.M : 0);
  // dbias right after dw in one buffer (a parameter arena's layout) lets both land in one write.
  const adjacent = !cdb || (call.dbias!.buffer === dw.buffer && cdb.offset === cdw.offset + g.M * g.N);
  const direct = slices === 1 && adjacent;
  const part = direct ? dw.buffer : gpu.alloc(slices * stride, `${name}:dw-partials`);
  const u = uniforms(d, g, cdb ? HAS_BIAS : 0, { x: cx.offset, w: 0, bias: 0, y: cdy.offset, part: direct ? cdw.offset : 0 }, kSlice, stride);
  const k = gpu.kernel(spec(gpu, v, 'dw', ['read', 'read', 'rw']));
  gpu.dispatch(k, u, [call.dy.buffer, call.x.buffer, part], grid(gpu, v, name, g.M, g.N, slices), `${name}.dw${shapeLabel}${slices > 1 ? `/${slices}` : ''}`);
  if (!direct) {
    const cols = { buffer: part, shape: [slices, stride] };
    if (adjacent) reduceColumns(gpu, 'sum', cols, { buffer: dw.buffer, shape: [stride], offset: cdw.offset });
    else {
      const both = gpu.alloc(stride, `${name}:dw_dbias`);
      reduceColumns(gpu, 'sum', cols, { buffer: both, shape: [stride] });
      gpu.copy(both, dw.buffer, g.M * g.N * 4, 0, cdw.offset * 4);
      gpu.copy(both, call.dbias!.buffer, g.M * 4, g.M * g.N * 4, cdb!.offset * 4);
      gpu.release(both);
    }
    gpu.release(part);
  }
  if (!call.dw) gpu.release(dw.buffer);
}
