// Gradient accumulation (`coca train --grad-accum K`): one optimiser step over K micro-batches.
// Each micro-batch's forward and backward runs with the loss weights divided by K, so the
// gradients summed in the parameters are the mean of the K micro-batches' gradients; then one
// logit-scale clamp, one global-norm clip and one AdamW update, as trainStep does for one batch.
// The captioning loss of K equal-token micro-batches is then exactly that of one K-times larger
// batch; the contrastive loss is not: each micro-batch's images meet only its own captions as
// negatives (that needs gradient caching, which this is not).
import type { CocaInputs, CocaModel } from '../model/coca.ts';
import { DEFAULT_LOSS_WEIGHTS, lossAndBackward, setLogitScale, type LossParts, type LossWeights } from '../model/loss.ts';
import { Tensor } from '../tensor/tensor.ts';
import type { AdamW } from './adamw.ts';
import { DEFAULT_CLIP, type StepOptions, type StepReport } from './step.ts';

/**
 * Leaves in the parameters' gradients the mean gradient of the micro-batches (zeroed first);
 * returns the mean of their loss parts and whether the logit scale needs its clamp.
 */
export async function accumulateGradients(model: CocaModel, micro: readonly CocaInputs[], weights: LossWeights = DEFAULT_LOSS_WEIGHTS): Promise<{ parts: LossParts; logitScaleOutOfRange: boolean }> {
  if (micro.length === 0) throw new RangeError('gradient accumulation needs at least one micro-batch');
  const K = micro.length;
  const scaled = { contrastive: weights.contrastive / K, caption: weights.caption / K };
  model.params.zeroGrad();
  const logitScale = model.params.get('logit_scale');
  // lossAndBackward sets the logit scale's gradient (it comes from the CPU half of the loss)
  // rather than adding to it: the sum is kept here.
  let dLogitScale = 0;
  let contrastive = 0;
  let caption = 0;
  let last: { logitScale: number; outOfRange: boolean } = { logitScale: 0, outOfRange: false };
  for (const m of micro) {
    const inp = model.prepare(m);
    try {
      const r = await lossAndBackward(model, inp, scaled);
      dLogitScale += (await logitScale.grad!.toArray())[0]!;
      contrastive += r.parts.contrastive / K;
      caption += r.parts.caption / K;
      last = { logitScale: r.parts.logitScale, outOfRange: r.logitScaleOutOfRange };
    } finally {
      inp.release();
    }
  }
  logitScale.grad?.release();
  logitScale.grad = Tensor.fromArray(model.gpu, [dLogitScale], [1], 'grad(logit_scale)');
  const parts = { contrastive, caption, total: weights.contrastive * contrastive + weights.caption * caption, logitScale: last.logitScale };
  return { parts, logitScaleOutOfRange: last.outOfRange };
}

/** One optimiser step over K micro-batches (K = 1 is trainStep's step on that batch). */
export async function accumulatedStep(model: CocaModel, opt: AdamW, micro: readonly CocaInputs[], o: StepOptions = {}): Promise<StepReport> {
  const { parts, logitScaleOutOfRange } = await accumulateGradients(model, micro, o.weights ?? DEFAULT_LOSS_WEIGHTS);
  if (logitScaleOutOfRange) setLogitScale(model, parts.logitScale);
  const g = await opt.clipGradNorm(o.clip ?? DEFAULT_CLIP);
  const nonFinite = !Number.isFinite(parts.total) ? `the loss (${!Number.isFinite(parts.caption) ? 'caption' : 'contrastive'}) is ${parts.total}` : g.nonFinite ? 'a gradient is NaN or Inf' : null;
  if (!nonFinite) {
    if (o.lr !== undefined) opt.hyper.lr = o.lr;
    opt.update(g.scale);
  }
  return { ...parts, gradNorm: g.norm, nonFinite };
}
