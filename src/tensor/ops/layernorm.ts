// LayerNorm over the last axis on the tape (eps 1e-5, as PyTorch). The forward saves the row
// mean and 1/σ for the backward.
import { layernorm as layernormKernel, layernormBackward, layernormBackwardPartials, layernormPartialRows } from '../../../kernels/layernorm.ts';
import { ShapeError } from '../../gpu/errors.ts';
import { accumulateGrad, newGrad } from '../grad.ts';
import { needsGrad } from '../tape.ts';
import { Tensor, shapeStr } from '../tensor.ts';

const ref = (t: Tensor, shape: readonly number[] = t.shape) => ({ buffer: t.buffer, shape, offset: t.offset });

/** A fresh gradient buffer for x, or a scratch one when x already has a gradient to add to. */
function target(x: Tensor, name: string): { t: Tensor; scratch: boolean } {
  if (x.grad) return { t: Tensor.empty(x.gpu, x.shape, name), scratch: true };
  x.grad = newGrad(x);
  return { t: x.grad, scratch: false };
}

export function layerNorm(x: Tensor, weight: Tensor, bias: Tensor): Tensor {
  const C = x.shape[x.shape.length - 1]!;
  if (weight.size !== C || bias.size !== C) throw new ShapeError(`layerNorm: ${x.name} ${shapeStr(x.shape)} needs weight and bias of [${C}], got ${shapeStr(weight.shape)} and ${shapeStr(bias.shape)}`);
  const rows = x.size / C;
  const gpu = x.gpu;
  const y = Tensor.empty(gpu, x.shape, 'layernorm');
  const mean = Tensor.empty(gpu, [rows], 'ln.mean');
  const rstd = Tensor.empty(gpu, [rows], 'ln.rstd');
  const x2 = [rows, C];
  layernormKernel(gpu, { x: ref(x, x2), gamma: ref(weight, [C]), beta: ref(bias, [C]), y: ref(y, x2), mean: ref(mean), rstd: ref(rstd) });
  if (!needsGrad(x, weight, bias)) {
    mean.release();
    rstd.release();
    return y;
  }
  recordLayerNorm(x, weight, bias, { y, mean, rstd });
  return y;
}

/**
 * Records the backward of y = layerNorm(x) whose forward wrote y, mean and rstd (the layernorm
 * kernel, or a product that folded the layernorm into its prologue: prenorm.ts). Needs a tape
 * recording for x, weight or bias.
 */
export function recordLayerNorm(x: Tensor, weight: Tensor, bias: Tensor, out: { y: Tensor; mean: Tensor; rstd: Tensor }): void {
  const { y, mean, rstd } = out;
  const C = x.shape[x.shape.length - 1]!;
  const x2 = [x.size / C, C];
  const gpu = x.gpu;
  const tape = needsGrad(x, weight, bias);
  if (!tape) throw new Error('recordLayerNorm: nothing to record (no input needs a gradient, or no tape is recording)');
  y.requiresGrad = true;
  tape.track(mean);
  tape.track(rstd);
  tape.record({
    op: 'layerNorm',
    inputs: [x, weight, bias],
    outputs: [y],
    saved: [x, weight, mean, rstd],
    backward: ([dy]) => {
      // The kernel writes all three gradients, dx added in place where it already holds a sum
      // (the residual stream's); dγ, dβ through scratch where they do, or, where they lie side by
      // side in the arena, as partials the tape folds with every other layernorm's at the end.
      const accumulateDx = x.requiresGrad && x.grad !== null;
      const dx = !x.requiresGrad ? { t: Tensor.empty(gpu, x.shape, 'ln.dx'), scratch: true } : accumulateDx ? { t: x.grad!, scratch: false } : target(x, 'ln.dx');
      const sums = tape.columnSums(gpu);
      sums?.foldIfQueued([weight, bias]);
      if (sums?.canQueue([weight, bias])) {
        const call = { x: ref(x, x2), gamma: ref(weight, [C]), mean: ref(mean), rstd: ref(rstd), dy: ref(dy!, x2), dx: ref(dx.t, x2), accumulateDx };
        sums.queue([weight, bias], layernormPartialRows(gpu, x2), 2 * C, (partials) => layernormBackwardPartials(gpu, { ...call, partials }));
        if (dx.scratch) {
          if (x.requiresGrad) accumulateGrad(x, dx.t);
          dx.t.release();
        }
        return;
      }
      const dg = weight.requiresGrad ? target(weight, 'ln.dgamma') : { t: Tensor.empty(gpu, [C], 'ln.dgamma'), scratch: true };
      const db = bias.requiresGrad ? target(bias, 'ln.dbeta') : { t: Tensor.empty(gpu, [C], 'ln.dbeta'), scratch: true };
      layernormBackward(gpu, { x: ref(x, x2), gamma: ref(weight, [C]), mean: ref(mean), rstd: ref(rstd), dy: ref(dy!, x2), dx: ref(dx.t, x2), accumulateDx, dgamma: ref(dg.t, [C]), dbeta: ref(db.t, [C]) });
      for (const [p, g] of [[x, dx], [weight, dg], [bias, db]] as const) {
        if (!g.scratch) continue;
        if (p.requiresGrad) accumulateGrad(p, g.t);
        g.t.release();
      }
    },
  });
}
