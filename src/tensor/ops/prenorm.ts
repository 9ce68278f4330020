// A product's input that is to be layernormed first (pre-norm transformer blocks: ln_1 before
// the attention's projections, ln_2 before the MLP, ln_final before the vocabulary projection).
// Where nothing needs a gradient and the product runs on the skinny kernel (a decoding step's few
// rows) the layernorm rides in the product's prologue (kernels/matmul.ts, MatmulCall.layernorm)
// and costs no dispatch; elsewhere it is the ordinary layernorm op. Both give the same bits:
// the prologue sums the statistics with the layernorm kernel's own code.
import { matmulFusesLayernorm, type MatmulCall } from '../../../kernels/matmul.ts';
import { ShapeError } from '../../gpu/errors.ts';
import { precisionOf } from '../precision.ts';
import { needsGrad } from '../tape.ts';
import { Tensor, shapeStr } from '../tensor.ts';
import { layerNorm } from './layernorm.ts';

/** x, to be normalised over its last axis with weight γ and bias β before the product reads it. */
export interface PreNormed {
  x: Tensor;
  norm: { weight: Tensor; bias: Tensor };
}

export type ProductInput = Tensor | PreNormed;

/**
 * The tensor a product of [M, N] over K reads as A, and the layernorm its prologue applies to it
 * (absent where there is none, or where it ran here on its own). `others`: the product's other
 * inputs, any of which needing a gradient rules the fusion out (the fused op has no backward).
 */
export function productInput(input: ProductInput, N: number, others: (Tensor | null | undefined)[]): { x: Tensor; layernorm?: MatmulCall['layernorm'] } {
  if (input instanceof Tensor) return { x: input };
  const { x, norm } = input;
  const K = x.shape[x.shape.length - 1]!;
  if (norm.weight.size !== K || norm.bias.size !== K) throw new ShapeError(`layerNorm: ${x.name} ${shapeStr(x.shape)} needs weight and bias of [${K}], got ${shapeStr(norm.weight.shape)} and ${shapeStr(norm.bias.shape)}`);
  const fuse = !needsGrad(x, norm.weight, norm.bias, ...others) && precisionOf(x.gpu) === 'f32' && matmulFusesLayernorm(x.gpu, x.size / K, N, K);
  if (!fuse) return { x: layerNorm(x, norm.weight, norm.bias) };
  return { x, layernorm: { gamma: { buffer: norm.weight.buffer, offset: norm.weight.offset }, beta: { buffer: norm.bias.buffer, offset: norm.bias.offset } } };
}
