// The CoCa loss: λ_cap·caption cross-entropy + λ_con·contrastive InfoNCE, both on the GPU
// (kernels/crossentropy.ts, kernels/contrastive.ts). recordLossAndBackward leaves every
// parameter's gradient in .grad and the loss values in a GPU buffer, reading nothing back (the
// training step reads them once, with the gradient norm); lossAndBackward reads them at once;
// computeLoss is the same loss forward only (validation). Only the training step asks the
// contrastive kernel to write the logit-scale clamp back into the parameter.
import { IGNORE_INDEX, releaseTokenIds, uploadTokenIds, type TokenIds } from '../tensor/ids.ts';
import { contrastiveLoss } from '../tensor/ops/contrastive.ts';
import { crossEntropy } from '../tensor/ops/loss.ts';
import { reshape } from '../tensor/ops/shape.ts';
import { noGrad, Tape, withTape } from '../tensor/tape.ts';
import { Tensor, tidy } from '../tensor/tensor.ts';
import type { CocaModel, CocaOutputs, PreparedInputs } from './coca.ts';

export interface LossWeights {
  contrastive: number;
  caption: number;
}

export const DEFAULT_LOSS_WEIGHTS: LossWeights = { contrastive: 1, caption: 2 };
export const LOGIT_SCALE_MAX = Math.log(100);

/** The two losses unweighted, and total = λ_con·contrastive + λ_cap·caption. */
export interface LossParts {
  total: number;
  contrastive: number;
  caption: number;
  logitScale: number;
}

/** Next-token targets [B, L]: position t predicts text[t+1]; pad targets and the last position are ignored. */
export function captionTargets(text: Int32Array, B: number, L: number, pad: number): Int32Array {
  const out = new Int32Array(B * L).fill(IGNORE_INDEX);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t + 1 < L; t++) {
      const next = text[b * L + t + 1]!;
      if (next !== pad) out[b * L + t] = next;
    }
  }
  return out;
}

/**
 * The logit scale as the loss uses it: clamped to [0, ln 100], as open_clip clamps the
 * parameter after every update.
 */
export function clampLogitScale(stored: number): number {
  return Math.min(Math.max(stored, 0), LOGIT_SCALE_MAX);
}

/** Writes the logit-scale parameter (the training step's clamp). */
export function setLogitScale(model: CocaModel, value: number): void {
  const p = model.params.get('logit_scale');
  model.gpu.write(p.buffer, new Float32Array([value]), p.offset * 4);
}

/** The next-token targets of a batch on the GPU, and how many count (not padding). */
export function uploadCaptionTargets(model: CocaModel, inp: PreparedInputs): { targets: TokenIds; counted: number } {
  const host = captionTargets(inp.text, inp.B, inp.L, model.config.text_cfg.pad_id);
  const counted = host.filter((t) => t !== IGNORE_INDEX).length;
  return { targets: uploadTokenIds(model.gpu, host, { shape: [inp.B * inp.L], label: 'caption_targets' }), counted };
}

/** The caption cross-entropy of a forward pass: mean over the counted targets, [1]; `labelSmoothing`: torch's ε (training only). */
export function captionLoss(model: CocaModel, out: CocaOutputs, inp: PreparedInputs, targets: TokenIds, labelSmoothing = 0): Tensor {
  return crossEntropy(reshape(out.logits, [inp.B * inp.L, model.config.multimodal_cfg.vocab_size]), targets, IGNORE_INDEX, labelSmoothing);
}

/** Floats of the loss stats a step records: caption, contrastive, the clamped log-scale. */
export const LOSS_STATS_FLOATS = 3;

/** Where the loss stats go: three floats of a GPU buffer from `at` (the step's one read-back buffer). */
export interface LossStatsTarget {
  buffer: GPUBuffer;
  at: number;
}

/** The parts of the loss from the floats recordLoss wrote (`floats[at..at + 3)`). */
export function lossParts(floats: Float32Array, at: number, weights: LossWeights): LossParts {
  const [caption, contrastive, logitScale] = [floats[at]!, floats[at + 1]!, floats[at + 2]!];
  return { contrastive, caption, total: weights.contrastive * contrastive + weights.caption * caption, logitScale };
}

/**
 * Records the contrastive half on the GPU (kernels/contrastive.ts) and copies the caption loss
 * beside it: the three loss floats land in `target`, nothing is read back. With `grads`, the
 * embeddings' gradients come back as tensors and the logit scale's goes into its .grad.
 */
function recordContrastive(model: CocaModel, out: Pick<CocaOutputs, 'imageEmbedding' | 'textEmbedding'>, caption: Tensor, target: LossStatsTarget, weights: LossWeights, o: { grads: boolean; clampParam: boolean; groups?: Int32Array }): { dImage: Tensor; dText: Tensor } | null {
  model.gpu.copy(caption.buffer, target.buffer, 4, caption.offset * 4, target.at * 4);
  return contrastiveLoss(out.imageEmbedding, out.textEmbedding, model.params.get('logit_scale'), {
    maxLogScale: LOGIT_SCALE_MAX,
    out: { buffer: target.buffer, at: target.at + 1 },
    grads: o.grads ? { weight: weights.contrastive } : undefined,
    clampParam: o.clampParam,
    groups: o.groups,
  });
}

export interface LossEval {
  parts: LossParts;
  /** Raw image and text embeddings, [B, E] each. */
  imageEmbedding: Float32Array;
  textEmbedding: Float32Array;
  /** Caption targets that count (not padding): the weight of parts.caption in a mean over batches. */
  captionTargets: number;
}

/**
 * The loss of one batch, forward only: no tape, no gradients. Always today's loss (one positive
 * per row, no label smoothing), whatever recipe trained the model: validation losses compare.
 */
export async function computeLoss(model: CocaModel, inp: PreparedInputs, weights = DEFAULT_LOSS_WEIGHTS): Promise<LossEval> {
  const { targets, counted } = uploadCaptionTargets(model, inp);
  try {
    // tidy() releases everything the forward made but the three tensors read back.
    const f = noGrad(() =>
      tidy(() => {
        const out = model.forward(inp);
        return { imageEmbedding: out.imageEmbedding, textEmbedding: out.textEmbedding, caption: captionLoss(model, out, inp, targets) };
      }),
    );
    const stats = model.gpu.alloc(LOSS_STATS_FLOATS, 'loss_stats');
    try {
      recordContrastive(model, f, f.caption, { buffer: stats, at: 0 }, weights, { grads: false, clampParam: false });
      const [img, txt] = [await f.imageEmbedding.toArray(), await f.textEmbedding.toArray()];
      const parts = lossParts(await model.gpu.read(stats, LOSS_STATS_FLOATS), 0, weights);
      return { parts, imageEmbedding: img, textEmbedding: txt, captionTargets: counted };
    } finally {
      model.gpu.release(stats);
      for (const t of Object.values(f)) t.release();
    }
  } finally {
    releaseTokenIds(model.gpu, targets);
  }
}

export interface RecordOptions {
  weights?: LossWeights;
  /** Write the clamped logit scale back into the parameter (the training step's clamp). */
  clampLogitScale?: boolean;
  /** Keep the model's outputs for inspection (the caller releases them). */
  keepOutputs?: boolean;
  /**
   * The gradients are of this times the loss (mixed precision's loss scale, src/train/loss-scale.ts);
   * the loss floats written are the loss's own. Default 1.
   */
  gradScale?: number;
  /** The caption loss's label smoothing ε (torch's); default 0. The contrastive groups come with the inputs. */
  labelSmoothing?: number;
}

/**
 * Records forward, loss and backward for one batch, reading nothing back: gradients accumulate
 * into the parameters' .grad, the loss floats land in `target` (see lossParts).
 */
export function recordLossAndBackward(model: CocaModel, inp: PreparedInputs, target: LossStatsTarget, o: RecordOptions = {}): CocaOutputs | undefined {
  const gpu = model.gpu;
  const weights = o.weights ?? DEFAULT_LOSS_WEIGHTS;
  const keepOutputs = o.keepOutputs ?? false;
  const S = o.gradScale ?? 1;
  const tape = new Tape();
  const { targets } = uploadCaptionTargets(model, inp);
  try {
    const out = withTape(tape, () => model.forward(inp));
    const caption = withTape(tape, () => captionLoss(model, out, inp, targets, o.labelSmoothing));
    for (const t of [out.imageEmbedding, out.textEmbedding, caption]) tape.keep(t);
    if (keepOutputs) for (const t of [out.imageTokens, out.textTokens, out.logits]) tape.keep(t);
    const gradWeights = { contrastive: weights.contrastive * S, caption: weights.caption * S };
    const g = recordContrastive(model, out, caption, target, gradWeights, { grads: true, clampParam: o.clampLogitScale ?? false, groups: inp.groups })!;
    tape.backwardFrom([
      [caption, Tensor.fromArray(gpu, [gradWeights.caption], [1], 'd_caption')],
      [out.imageEmbedding, g.dImage],
      [out.textEmbedding, g.dText],
    ]);
    for (const t of [out.imageEmbedding, out.textEmbedding, caption]) {
      t.grad?.release();
      t.grad = null;
      if (!keepOutputs || t === caption) t.release();
    }
    tape.dispose();
    return keepOutputs ? out : undefined;
  } finally {
    releaseTokenIds(gpu, targets);
  }
}

export interface StepResult {
  parts: LossParts;
  /** Outputs kept for inspection when asked (the caller releases them). */
  outputs?: CocaOutputs;
}

/** Forward, loss and backward for one batch, and the loss read back. Gradients accumulate into the parameters' .grad. */
export async function lossAndBackward(model: CocaModel, inp: PreparedInputs, weights = DEFAULT_LOSS_WEIGHTS, keepOutputs = false): Promise<StepResult> {
  const stats = model.gpu.alloc(LOSS_STATS_FLOATS, 'loss_stats');
  try {
    const outputs = recordLossAndBackward(model, inp, { buffer: stats, at: 0 }, { weights, keepOutputs });
    return { parts: lossParts(await model.gpu.read(stats, LOSS_STATS_FLOATS), 0, weights), outputs };
  } finally {
    model.gpu.release(stats);
  }
}
