// Gradient accumulation (`coca train --grad-accum K`): one optimiser step over K micro-batches.
// Each micro-batch's forward and backward runs with the loss weights divided by K, so the
// gradients summed in the parameters are the mean of the K micro-batches' gradients; then one
// logit-scale clamp, one global-norm clip and one AdamW update, as trainStep does for one batch.
// The captioning loss of K equal-token micro-batches is then exactly that of one K-times larger
// batch; the contrastive loss is not: each micro-batch's images meet only its own captions as
// negatives (that needs gradient caching, which this is not).
import type { CocaInputs, CocaModel } from '../model/coca.ts';
import { DEFAULT_LOSS_WEIGHTS, LOSS_STATS_FLOATS, lossParts, recordLossAndBackward, type LossParts, type LossWeights } from '../model/loss.ts';
import { Tensor } from '../tensor/tensor.ts';
import type { AdamW } from './adamw.ts';
import { DEFAULT_CLIP, type StepOptions, type StepReport } from './step.ts';

/**
 * Leaves in the parameters' gradients the mean gradient of the micro-batches (zeroed first), the
 * logit scale clamped as a training step clamps it; returns the mean of their loss parts. With a
 * `lossScale` S (mixed precision), the gradients left are S times that.
 */
export async function accumulateGradients(model: CocaModel, micro: readonly CocaInputs[], weights: LossWeights = DEFAULT_LOSS_WEIGHTS, lossScale = 1, labelSmoothing = 0): Promise<LossParts> {
  if (micro.length === 0) throw new RangeError('gradient accumulation needs at least one micro-batch');
  const K = micro.length;
  const scaled = { contrastive: weights.contrastive / K, caption: weights.caption / K };
  model.params.zeroGrad();
  const logitScale = model.params.get('logit_scale');
  const stats = model.gpu.alloc(LOSS_STATS_FLOATS, 'accumulated_loss_stats');
  // The loss sets the logit scale's gradient (it meets only the contrastive half) rather than
  // adding to it: the sum is kept here.
  let dLogitScale = 0;
  let contrastive = 0;
  let caption = 0;
  let scale = 0;
  try {
    for (const m of micro) {
      const inp = model.prepare(m);
      try {
        recordLossAndBackward(model, inp, { buffer: stats, at: 0 }, { weights: scaled, clampLogitScale: true, gradScale: lossScale, labelSmoothing });
        const p = lossParts(await model.gpu.read(stats, LOSS_STATS_FLOATS), 0, scaled);
        dLogitScale += logitScale.grad ? (await logitScale.grad.toArray())[0]! : 0;
        contrastive += p.contrastive / K;
        caption += p.caption / K;
        scale = p.logitScale;
      } finally {
        inp.release();
      }
    }
  } finally {
    model.gpu.release(stats);
  }
  logitScale.grad?.release();
  logitScale.grad = Tensor.fromArray(model.gpu, [dLogitScale], [1], 'grad(logit_scale)');
  return { contrastive, caption, total: weights.contrastive * contrastive + weights.caption * caption, logitScale: scale };
}

/** One optimiser step over K micro-batches (K = 1 is trainStep's step on that batch). */
export async function accumulatedStep(model: CocaModel, opt: AdamW, micro: readonly CocaInputs[], o: StepOptions = {}): Promise<StepReport> {
  const parts = await accumulateGradients(model, micro, o.weights ?? DEFAULT_LOSS_WEIGHTS, o.lossScale, o.labelSmoothing);
  const g = await opt.clipGradNorm(o.clip ?? DEFAULT_CLIP, o.lossScale);
  const nonFinite = !Number.isFinite(parts.total) ? `the loss (${!Number.isFinite(parts.caption) ? 'caption' : 'contrastive'}) is ${parts.total}` : g.nonFinite ? 'a gradient is NaN or Inf' : null;
  if (!nonFinite) {
    if (o.lr !== undefined) opt.hyper.lr = o.lr;
    opt.update(g.scale);
  }
  return { ...parts, gradNorm: g.norm, nonFinite };
}
