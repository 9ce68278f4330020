// A product's input that is to be layernormed first (pre-norm transformer blocks: ln_1 before
// the attention's projections, ln_2 before the MLP, ln_1_kv and the poolers' ln_k before the keys
// and values, the ln_finals before the projections). The layernorm rides in the product's prologue
// (kernels/matmul.ts, MatmulCall.layernorm) and costs no dispatch where the product's kernel has
// such a prologue:
// - nothing needs a gradient and the product runs on the skinny kernel (a decoding step's rows)
//   or, not batched, on the subgroup kernel (16 rows and more: a batch of captions, inference);
// - a tape records (training) and the product runs on the subgroup kernel, which then also writes
//   the normalised rows, means and 1/σ that the layernorm kernel would have written, for the
//   backward (dW reads the rows, layernorm's backward x, means and 1/σ): the layernorm's backward
//   is recorded here as if it had run (TapeOptions.fuseLayernorm turns this off).
// Elsewhere it is the ordinary layernorm op. All give the same bits: the prologue sums the
// statistics and normalises with the layernorm kernel's own code.
import { matmulLayernormVariant, type MatmulCall } from '../../../kernels/matmul.ts';
import { ShapeError } from '../../gpu/errors.ts';
import { precisionOf } from '../precision.ts';
import { needsGrad } from '../tape.ts';
import { Tensor, shapeStr } from '../tensor.ts';
import { layerNorm, recordLayerNorm } from './layernorm.ts';

/** x, to be normalised over its last axis with weight γ and bias β before the product reads it. */
export interface PreNormed {
  x: Tensor;
  norm: { weight: Tensor; bias: Tensor };
}

export type ProductInput = Tensor | PreNormed;

/** The product's input as a tensor of its own (the layernorm run on its own): for inputs read by more than one op. */
export function materialise(input: ProductInput): Tensor {
  return input instanceof Tensor ? input : layerNorm(input.x, input.norm.weight, input.norm.bias);
}

/**
 * What a product of [M, N] over K takes from its input: `x`, the tensor it stands for (the
 * layernorm's output where there is one: the tape's input of the product, what its backward
 * reads), `read`, the tensor its kernel reads as A, and the layernorm its prologue applies to
 * `read` (absent where there is none, or where it ran here on its own). `others`: the product's
 * other inputs. `batched`: the product runs over a batch (its layernorm outputs cannot be fused).
 */
export function productInput(input: ProductInput, N: number, others: (Tensor | null | undefined)[], batched = false): { x: Tensor; read: Tensor; layernorm?: MatmulCall['layernorm'] } {
  if (input instanceof Tensor) return { x: input, read: input };
  const { x, norm } = input;
  const K = x.shape[x.shape.length - 1]!;
  if (norm.weight.size !== K || norm.bias.size !== K) throw new ShapeError(`layerNorm: ${x.name} ${shapeStr(x.shape)} needs weight and bias of [${K}], got ${shapeStr(norm.weight.shape)} and ${shapeStr(norm.bias.shape)}`);
  const gpu = x.gpu;
  const M = x.size / K;
  const prologue = { gamma: { buffer: norm.weight.buffer, offset: norm.weight.offset }, beta: { buffer: norm.bias.buffer, offset: norm.bias.offset } };
  if (precisionOf(gpu) !== 'f32') return unfused(input);
  const tape = needsGrad(x, norm.weight, norm.bias, ...others);
  if (!tape) {
    // Without a gradient nothing needs the layernorm's outputs: any kernel with the prologue takes
    // it (skinny for a decoding step's few rows, subgroup from 16 rows: a batch of captions).
    const v = matmulLayernormVariant(gpu, M, N, K);
    return v === 'skinny' || (v === 'subgroup' && !batched) ? { x, read: x, layernorm: prologue } : unfused(input);
  }
  if (batched || !tape.fusesLayernorm || !needsGrad(x, norm.weight, norm.bias) || matmulLayernormVariant(gpu, M, N, K) !== 'subgroup') return unfused(input);
  // One buffer for the three outputs: the kernel writes them through one binding.
  const all = Tensor.empty(gpu, [M * K + 2 * M], 'layernorm');
  const flat = all.narrow(0, M * K);
  const y = flat.reshape(x.shape);
  const mean = all.narrow(M * K, M);
  const rstd = all.narrow(M * K + M, M);
  flat.release();
  all.release();
  recordLayerNorm(x, norm.weight, norm.bias, { y, mean, rstd });
  return { x: y, read: x, layernorm: { ...prologue, out: { buffer: y.buffer, y: y.offset, mean: mean.offset, rstd: rstd.offset } } };
}

function unfused(input: PreNormed): { x: Tensor; read: Tensor } {
  const y = materialise(input);
  return { x: y, read: y };
}
