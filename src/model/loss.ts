// The CoCa loss: λ_cap·caption cross-entropy (on the GPU) + λ_con·contrastive InfoNCE
// (src/model/contrastive.ts, on the CPU). lossAndBackward leaves every parameter's gradient in
// .grad (training); computeLoss is the same loss forward only (validation). Neither writes to the
// parameters: the training step applies the logit-scale clamp (src/train/step.ts).
import { IGNORE_INDEX, releaseTokenIds, uploadTokenIds, type TokenIds } from '../tensor/ids.ts';
import { crossEntropy } from '../tensor/ops/loss.ts';
import { reshape } from '../tensor/ops/shape.ts';
import { noGrad, Tape, withTape } from '../tensor/tape.ts';
import { Tensor, tidy } from '../tensor/tensor.ts';
import type { CocaModel, CocaOutputs, PreparedInputs } from './coca.ts';
import { contrastiveLoss, type ContrastiveResult } from './contrastive.ts';

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

function uploadCaptionTargets(model: CocaModel, inp: PreparedInputs): { targets: TokenIds; counted: number } {
  const host = captionTargets(inp.text, inp.B, inp.L, model.config.text_cfg.pad_id);
  const counted = host.filter((t) => t !== IGNORE_INDEX).length;
  return { targets: uploadTokenIds(model.gpu, host, { shape: [inp.B * inp.L], label: 'caption_targets' }), counted };
}

/** The caption cross-entropy of a forward pass: mean over the counted targets, [1]. */
function captionLoss(model: CocaModel, out: CocaOutputs, inp: PreparedInputs, targets: TokenIds): Tensor {
  return crossEntropy(reshape(out.logits, [inp.B * inp.L, model.config.multimodal_cfg.vocab_size]), targets);
}

interface ReadLoss {
  parts: LossParts;
  /** The logit-scale parameter lies outside [0, ln 100]: parts.logitScale is the clamped value. */
  outOfRange: boolean;
  contrastive: ContrastiveResult;
  imageEmbedding: Float32Array;
  textEmbedding: Float32Array;
}

/** Reads the embeddings, the caption loss and the logit scale back, and adds the contrastive half on the CPU. */
async function readLoss(model: CocaModel, out: Pick<CocaOutputs, 'imageEmbedding' | 'textEmbedding'>, caption: Tensor, B: number, weights: LossWeights): Promise<ReadLoss> {
  const stored = (await model.params.get('logit_scale').toArray())[0]!;
  const scale = clampLogitScale(stored);
  const [img, txt, cap] = [await out.imageEmbedding.toArray(), await out.textEmbedding.toArray(), (await caption.toArray())[0]!];
  const con = contrastiveLoss(img, txt, scale, B, model.config.embed_dim, weights.contrastive);
  const parts = { contrastive: con.loss, caption: cap, total: weights.contrastive * con.loss + weights.caption * cap, logitScale: scale };
  return { parts, outOfRange: scale !== stored, contrastive: con, imageEmbedding: img, textEmbedding: txt };
}

export interface LossEval {
  parts: LossParts;
  /** Raw image and text embeddings, [B, E] each. */
  imageEmbedding: Float32Array;
  textEmbedding: Float32Array;
  /** Caption targets that count (not padding): the weight of parts.caption in a mean over batches. */
  captionTargets: number;
}

/** The loss of one batch, forward only: no tape, no gradients. */
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
    try {
      const r = await readLoss(model, f, f.caption, inp.B, weights);
      return { parts: r.parts, imageEmbedding: r.imageEmbedding, textEmbedding: r.textEmbedding, captionTargets: counted };
    } finally {
      for (const t of Object.values(f)) t.release();
    }
  } finally {
    releaseTokenIds(model.gpu, targets);
  }
}

export interface StepResult {
  parts: LossParts;
  /** The logit-scale parameter lies outside [0, ln 100]; the loss used the clamped parts.logitScale. */
  logitScaleOutOfRange: boolean;
  /** Outputs kept for inspection when asked (the caller releases them). */
  outputs?: CocaOutputs;
}

/** Forward, loss and backward for one batch. Gradients accumulate into the parameters' .grad. */
export async function lossAndBackward(model: CocaModel, inp: PreparedInputs, weights = DEFAULT_LOSS_WEIGHTS, keepOutputs = false): Promise<StepResult> {
  const gpu = model.gpu;
  const B = inp.B;
  const E = model.config.embed_dim;
  const tape = new Tape();
  const { targets } = uploadCaptionTargets(model, inp);
  try {
    const out = withTape(tape, () => model.forward(inp));
    const caption = withTape(tape, () => captionLoss(model, out, inp, targets));
    for (const t of [out.imageEmbedding, out.textEmbedding, caption]) tape.keep(t);
    if (keepOutputs) for (const t of [out.imageTokens, out.textTokens, out.logits]) tape.keep(t);
    const { parts, outOfRange, contrastive: con } = await readLoss(model, out, caption, B, weights);
    tape.backwardFrom([
      [caption, Tensor.fromArray(gpu, [weights.caption], [1], 'd_caption')],
      [out.imageEmbedding, Tensor.fromArray(gpu, Float32Array.from(con.dImage), [B, E], 'd_image_embedding')],
      [out.textEmbedding, Tensor.fromArray(gpu, Float32Array.from(con.dText), [B, E], 'd_text_embedding')],
    ]);
    // The logit scale only meets the CPU half of the loss; its gradient comes from there.
    const ls = model.params.get('logit_scale');
    ls.grad?.release();
    ls.grad = Tensor.fromArray(gpu, [con.dLogitScale], [1], 'grad(logit_scale)');
    for (const t of [out.imageEmbedding, out.textEmbedding, caption]) {
      t.grad?.release();
      t.grad = null;
      if (!keepOutputs || t === caption) t.release();
    }
    tape.dispose();
    return { parts, logitScaleOutOfRange: outOfRange, outputs: keepOutputs ? out : undefined };
  } finally {
    releaseTokenIds(gpu, targets);
  }
}
