// One training step, the one `coca train` runs and everything that times or tests a step
// (`coca bench step`, scripts/profile-step.ts, the overfit and checkpoint tests): zero the
// gradients, forward, loss, backward, the logit-scale clamp, the global gradient-norm clip, AdamW,
// all recorded on the GPU and read back once.
import type { CocaModel, PreparedInputs } from '../model/coca.ts';
import { DEFAULT_LOSS_WEIGHTS, lossParts, recordLossAndBackward, type LossParts, type LossWeights } from '../model/loss.ts';
import { STEP_LOSS_AT, STEP_NONFINITE, STEP_STATS_FLOATS, type AdamW } from './adamw.ts';

/** The global gradient-norm clip of `coca train --clip` and of every step that stands in for it. */
export const DEFAULT_CLIP = 1;

export interface StepOptions {
  weights?: LossWeights;
  /** Clip the global gradient norm to this. */
  clip?: number;
  /** The learning rate of this update (the schedule's); default: the optimiser's as it is. */
  lr?: number;
  /**
   * Mixed precision's loss scale S (src/train/loss-scale.ts): the backward runs on S·loss, the
   * norm, clip and update see the true gradients. Default 1 (f32: nothing scaled).
   */
  lossScale?: number;
  /** `coca train --label-smoothing`: the caption loss's ε; default 0. */
  labelSmoothing?: number;
}

export interface StepReport extends LossParts {
  /** The global gradient norm before clipping. */
  gradNorm: number;
  /** Why the step was not taken (a NaN or Inf in the loss or a gradient), or null when it was. */
  nonFinite: string | null;
}

/**
 * One step on one batch, read back once at its end (the losses, the gradient norm, the NaN/Inf
 * flag: 32 bytes). A step whose loss or gradients are not finite changes nothing but the
 * gradients (the GPU skips the update): the report says why, and the caller decides (the trainer
 * stops or skips).
 */
export async function trainStep(model: CocaModel, opt: AdamW, inp: PreparedInputs, o: StepOptions = {}): Promise<StepReport> {
  const weights = o.weights ?? DEFAULT_LOSS_WEIGHTS;
  const stats = opt.stepStats;
  model.params.zeroGrad();
  // open_clip clamps the logit scale after each update; the loss clamping the parameter before
  // this step's update gives the same values, since whatever reads it in between (the loss,
  // validation, a checkpoint) clamps what it reads.
  const lossScale = o.lossScale ?? 1;
  recordLossAndBackward(model, inp, { buffer: stats, at: STEP_LOSS_AT }, { weights, clampLogitScale: true, gradScale: lossScale, labelSmoothing: o.labelSmoothing });
  opt.recordGradNorm(o.clip ?? DEFAULT_CLIP, { from: STEP_LOSS_AT, count: 2 }, lossScale);
  const lr = opt.hyper.lr;
  if (o.lr !== undefined) opt.hyper.lr = o.lr;
  opt.update(stats, true);
  const st = await model.gpu.read(stats, STEP_STATS_FLOATS, 0, 'train:step');
  const parts = lossParts(st, STEP_LOSS_AT, weights);
  const nonFinite = !Number.isFinite(parts.total) ? `the loss (${!Number.isFinite(parts.caption) ? 'caption' : 'contrastive'}) is ${parts.total}` : st[STEP_NONFINITE] !== 0 ? 'a gradient is NaN or Inf' : null;
  if (nonFinite) {
    opt.undoStep();
    opt.hyper.lr = lr;
  }
  return { ...parts, gradNorm: st[0]!, nonFinite };
}

/** Random inputs shaped like a real batch, as scripts/reference/coca_torch.py's make_batch: rows end in 0, 2, 3 pads. */
export function syntheticBatch(model: CocaModel, B: number, rng: { normal(): number; int(n: number): number }): { images: Float32Array; text: Int32Array; batch: number } {
  const S = model.config.vision_cfg.image_size;
  const L = model.config.text_cfg.context_length;
  const V = model.config.text_cfg.vocab_size;
  const images = new Float32Array(B * 3 * S * S);
  for (let i = 0; i < images.length; i++) images[i] = rng.normal();
  const text = new Int32Array(B * L).fill(model.config.text_cfg.pad_id);
  for (let b = 0; b < B; b++) {
    const n = Math.max(3, L - [0, 2, 3][b % 3]!);
    text[b * L] = 1;
    for (let t = 1; t < n - 1; t++) text[b * L + t] = 3 + rng.int(V - 3);
    text[b * L + n - 1] = 2;
  }
  return { images, text, batch: B };
}
