// The precision of the tape's matrix products (`coca train --precision f32|f16`), per device.
//
// f32 (the default): every product is kernels/matmul.ts's, as always. f16 (mixed precision): the
// products of linear, mlpGelu and matmul take f16 operands with f32 accumulation
// (kernels/matmul-f16.ts): the master weights stay f32 (AdamW updates them, with f32 moments),
// and each parameter used as an operand is cast once to an f16 copy that every product reads
// until the parameters change (AdamW's update drops the copies; the next use casts again), so a
// real GPU reads half the bytes of it. Activations and gradients stay f32 in memory and are
// rounded to f16 as the kernel loads them. Attention takes f16 inputs the same way (Q, K, V and
// dO rounded as read, scores, softmax and sums in f32: src/tensor/ops/attention.ts). Everything
// else (normalisation, the losses, the optimiser) stays f32. Loss scaling, which keeps small gradients from flushing to
// zero in f16, is the training step's (src/train/loss-scale.ts).
import type { Gpu } from '../gpu/gpu.ts';
import { ShapeError } from '../gpu/errors.ts';
import { castToF16, halfBufferFloats, matmulF16, matmulF16ReadsHalves, noShaderF16, type HalfOrFloatRef } from '../../kernels/matmul-f16.ts';
import { matmul as matmulKernel, type MatmulCall } from '../../kernels/matmul.ts';
import type { Tensor } from './tensor.ts';

export const PRECISIONS = ['f32', 'f16'] as const;
export type Precision = (typeof PRECISIONS)[number];

/** The f16 copies of the parameters used since they last changed. */
const halfCopies = new WeakMap<Gpu, Map<Tensor, GPUBuffer>>();

/** Why this adapter cannot train at `precision` (one line, what to do), or null where it can. */
export function precisionUnavailable(gpu: Gpu, precision: Precision): string | null {
  return precision === 'f16' && !gpu.has('shader-f16') ? noShaderF16(gpu, '--precision f16') : null;
}

/** Sets the precision of the products recorded from now on; f16 needs the adapter's shader-f16. */
export function setPrecision(gpu: Gpu, precision: Precision): void {
  const why = precisionUnavailable(gpu, precision);
  if (why) throw new ShapeError(why);
  dropHalfWeights(gpu);
  if (precision === 'f16') halfCopies.set(gpu, new Map());
  else halfCopies.delete(gpu);
}

export function precisionOf(gpu: Gpu): Precision {
  return halfCopies.has(gpu) ? 'f16' : 'f32';
}

/** The parameters changed (an optimiser update, a load): their f16 copies are stale. */
export function dropHalfWeights(gpu: Gpu): void {
  const copies = halfCopies.get(gpu);
  if (!copies) return;
  // Safe to recycle at once: a later write to a pooled buffer is queued after the reads recorded.
  for (const b of copies.values()) gpu.release(b);
  copies.clear();
}

/** How many parameters have an f16 copy now (tests). */
export function halfWeightCount(gpu: Gpu): number {
  return halfCopies.get(gpu)?.size ?? 0;
}

function halfCopyOf(gpu: Gpu, copies: Map<Tensor, GPUBuffer>, weight: Tensor): GPUBuffer {
  let b = copies.get(weight);
  if (!b) {
    b = gpu.alloc(halfBufferFloats(weight.size), `f16(${weight.name})`);
    castToF16(gpu, { buffer: weight.buffer, offset: weight.offset }, { buffer: b }, weight.size, `cast_f16(${weight.name})`);
    copies.set(weight, b);
  }
  return b;
}

/**
 * Whether an activation that only products read may be stored as f16 (mlpGelu's hidden one): in
 * f16 precision where the products read stored halves. Half its bytes, the same answer: the
 * products would round it to f16 as they load it anyway.
 */
export function storesHalfActivations(gpu: Gpu): boolean {
  return halfCopies.has(gpu) && matmulF16ReadsHalves(gpu);
}

/** A product whose operands or output may be stored as f16 (only where storesHalfActivations). */
export type ProductCall = Omit<MatmulCall, 'a' | 'b' | 'c'> & { a: HalfOrFloatRef; b: HalfOrFloatRef; c: HalfOrFloatRef };

/**
 * Records a product of the tape at the device's precision. `weightB`: call.b is this tensor
 * (whole, as laid out); where it is a parameter and the f16 kernel reads stored halves, its f16
 * copy is read instead. Fusions the f16 kernel lacks (rowSumA, layernorm) must not be asked for in f16.
 */
export function recordProduct(gpu: Gpu, call: ProductCall, weightB?: Tensor): void {
  const copies = halfCopies.get(gpu);
  if (!copies) {
    if (call.a.half || call.b.half || call.c.half) throw new ShapeError('recordProduct: f16 operands need --precision f16 (storesHalfActivations)');
    matmulKernel(gpu, call);
    return;
  }
  if (call.rowSumA || call.variant || call.layernorm) throw new ShapeError('recordProduct: rowSumA, a layernorm prologue and a forced variant are f32 matmul options');
  const { rowSumA: _r, variant: _v, layernorm: _l, ...rest } = call;
  const useHalf = weightB && weightB.gradHome !== null && matmulF16ReadsHalves(gpu);
  const b = useHalf ? { buffer: halfCopyOf(gpu, copies, weightB), shape: call.b.shape, offset: 0, half: true } : call.b;
  matmulF16(gpu, { ...rest, b });
}
