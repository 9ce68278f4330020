// Host side of the pointwise family (shaders/pointwise.wgsl): shape checks, the vec4/scalar split,
// uniforms, dispatch.
import type { Binding, Gpu, KernelSpec } from '../src/gpu/gpu.ts';
import { ShapeError } from '../src/gpu/errors.ts';
import { checkDistinct, checkTensor, describeShape, grid2d, sameShape, type TensorRef } from './common.ts';

export const POINTWISE_OPS = { axpby: 0, mul: 1, scale: 2, gelu: 3, geluBackward: 4 } as const;
export type PointwiseOp = keyof typeof POINTWISE_OPS;
const READS_Y: ReadonlySet<PointwiseOp> = new Set(['axpby', 'mul', 'geluBackward']);

const WG = 256;
const bindingsOut: KernelSpec['bindings'] = ['read', 'read', 'rw'];
const bindingsInPlace: KernelSpec['bindings'] = ['read', 'rw'];

interface Launch {
  op: PointwiseOp;
  n: number;
  offX: number;
  offY: number;
  offZ: number;
  /** y is read at i % ymod (floats) when > 0. */
  ymod: number;
  alpha: number;
  beta: number;
  buffers: Binding[];
  inPlace: boolean;
  label: string;
}

function launch(gpu: Gpu, l: Launch): void {
  // vec4 needs every range to start on a 16-byte boundary, and a broadcast y whose rows do too.
  const aligned = l.offX % 4 === 0 && l.offY % 4 === 0 && l.offZ % 4 === 0 && l.ymod % 4 === 0;
  const nv = aligned ? Math.floor(l.n / 4) : 0;
  const stem = l.inPlace ? 'pwi' : 'pw';
  const bindings = l.inPlace ? bindingsInPlace : bindingsOut;
  const u = new ArrayBuffer(48);
  const u32 = new Uint32Array(u);
  const f32 = new Float32Array(u);
  const put = (n: number, base: number, unit: number) => {
    u32.set([n, base, POINTWISE_OPS[l.op], l.ymod / unit, l.offX / unit, l.offY / unit, l.offZ / unit, 0]);
    f32[8] = l.alpha;
    f32[9] = l.beta;
  };
  if (nv > 0) {
    put(nv, 0, 4);
    gpu.dispatch(gpu.kernel({ file: 'pointwise', entry: stem, defines: { VEC4: true }, bindings }), u32, l.buffers, grid2d(gpu, Math.ceil(nv / WG)), `${l.label}:v4`);
  }
  const rest = l.n - 4 * nv;
  if (rest > 0) {
    put(l.n, 4 * nv, 1);
    gpu.dispatch(gpu.kernel({ file: 'pointwise', entry: stem, defines: { VEC4: false }, bindings }), u32, l.buffers, grid2d(gpu, Math.ceil(rest / WG)), `${l.label}:s`);
  }
}

export interface PointwiseCall {
  op: PointwiseOp;
  x: TensorRef;
  /** Second operand; same shape as x, or a row [cols] broadcast over x's rows when `broadcast`. */
  y?: TensorRef;
  /** Output, same shape as x; omitted for the in-place form (x = f(x, y)). */
  out?: TensorRef;
  alpha?: number;
  beta?: number;
  /** y is one row of x's last-axis length, added to every row (bias). */
  broadcast?: boolean;
  label?: string;
}

/** Records out = f(x, y) (or x = f(x, y) without `out`). Checks every shape first. */
export function pointwise(gpu: Gpu, c: PointwiseCall): void {
  const name = c.label ?? c.op;
  const x = checkTensor(gpu, name, 'x', c.x);
  const needY = READS_Y.has(c.op);
  if (needY !== (c.y !== undefined)) throw new ShapeError(`${name}: ${needY ? 'needs a second operand y' : 'takes no second operand y'}`);
  let y = { offset: 0, n: 0 };
  let ymod = 0;
  if (c.y) {
    y = checkTensor(gpu, name, 'y', c.y);
    if (c.broadcast) {
      const cols = c.x.shape[c.x.shape.length - 1]!;
      if (c.y.shape.length !== 1 || c.y.shape[0] !== cols) {
        throw new ShapeError(`${name}: x ${describeShape(c.x.shape)} takes a broadcast row of [${cols}], got ${describeShape(c.y.shape)}`);
      }
      ymod = cols;
    } else if (!sameShape(c.x.shape, c.y.shape)) {
      throw new ShapeError(`${name}: x ${describeShape(c.x.shape)} and y ${describeShape(c.y.shape)} differ in shape`);
    }
  }
  let z = { offset: 0, n: 0 };
  if (c.out) {
    z = checkTensor(gpu, name, 'out', c.out);
    if (!sameShape(c.x.shape, c.out.shape)) throw new ShapeError(`${name}: x ${describeShape(c.x.shape)} and out ${describeShape(c.out.shape)} differ in shape`);
    checkDistinct(name, ['out', c.out], ['x', c.x], ...(c.y ? [['y', c.y] as [string, TensorRef]] : []));
  } else if (c.y && c.y.buffer === c.x.buffer) {
    throw new ShapeError(`${name}: in place, x must not share a buffer with y (the kernel reads y while writing x)`);
  }
  const yBuf = c.y?.buffer ?? gpu.unused;
  launch(gpu, {
    op: c.op,
    n: x.n,
    offX: x.offset,
    offY: y.offset,
    offZ: z.offset,
    ymod,
    alpha: c.alpha ?? 1,
    beta: c.beta ?? 1,
    buffers: c.out ? [c.x.buffer, yBuf, c.out.buffer] : [yBuf, c.x.buffer],
    inPlace: !c.out,
    label: `${name}${describeShape(c.x.shape)}`,
  });
}

// ---- the named ops ------------------------------------------------------------------------------

/** out = α·a + β·b (α = β = 1: a + b). */
export const add = (gpu: Gpu, a: TensorRef, b: TensorRef, out: TensorRef, alpha = 1, beta = 1): void =>
  pointwise(gpu, { op: 'axpby', x: a, y: b, out, alpha, beta, label: 'add' });

/** out = a − b. */
export const sub = (gpu: Gpu, a: TensorRef, b: TensorRef, out: TensorRef): void => pointwise(gpu, { op: 'axpby', x: a, y: b, out, beta: -1, label: 'sub' });

/** out = α·a·b elementwise. */
export const mul = (gpu: Gpu, a: TensorRef, b: TensorRef, out: TensorRef, alpha = 1): void => pointwise(gpu, { op: 'mul', x: a, y: b, out, alpha, label: 'mul' });

/** out = α·x. */
export const scale = (gpu: Gpu, x: TensorRef, out: TensorRef, alpha: number): void => pointwise(gpu, { op: 'scale', x, out, alpha, label: 'scale' });

/** out[r, c] = x[r, c] + bias[c] for x [..., C], bias [C]. */
export const addBias = (gpu: Gpu, x: TensorRef, bias: TensorRef, out: TensorRef): void =>
  pointwise(gpu, { op: 'axpby', x, y: bias, out, broadcast: true, label: 'addBias' });

/** out = GELU(x) = x·Φ(x), the exact erf form (PyTorch's default). */
export const gelu = (gpu: Gpu, x: TensorRef, out: TensorRef): void => pointwise(gpu, { op: 'gelu', x, out, label: 'gelu' });

/** dx = dy·GELU'(x). */
export const geluBackward = (gpu: Gpu, x: TensorRef, dy: TensorRef, dx: TensorRef): void =>
  pointwise(gpu, { op: 'geluBackward', x, y: dy, out: dx, label: 'geluBackward' });

/** In place x = α·x + β·y: the residual add (α = β = 1) and gradient accumulation. */
export const addInPlace = (gpu: Gpu, x: TensorRef, y: TensorRef, alpha = 1, beta = 1): void =>
  pointwise(gpu, { op: 'axpby', x, y, alpha, beta, label: 'addInPlace' });

/** Bytes one call moves: each operand read once and the output written once (napkin math). */
export function pointwiseBytes(op: PointwiseOp, n: number, yFloats = n): number {
  return 4 * (2 * n + (READS_Y.has(op) ? yFloats : 0));
}
