// One forward and backward of the CoCa loss: λ_cap·caption cross-entropy (on the GPU) +
// λ_con·contrastive InfoNCE (src/model/contrastive.ts, on the CPU). Leaves every parameter's
// gradient in .grad and returns the loss parts.
import { IGNORE_INDEX, releaseTokenIds, uploadTokenIds } from '../tensor/ids.ts';
import { crossEntropy } from '../tensor/ops/loss.ts';
import { reshape } from '../tensor/ops/shape.ts';
import { Tape, withTape } from '../tensor/tape.ts';
import { Tensor } from '../tensor/tensor.ts';
import type { CocaModel, CocaOutputs, PreparedInputs } from './coca.ts';
import { contrastiveLoss } from './contrastive.ts';

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
 * The logit scale as the loss sees it, clamped to [0, ln 100]: open_clip clamps after every
 * update; clamping where it is read (and writing the clamped value back) is the same thing,
 * since nothing else reads it.
 */
async function clampedLogitScale(model: CocaModel): Promise<number> {
  const p = model.params.get('logit_scale');
  const s = (await p.toArray())[0]!;
  const c = Math.min(Math.max(s, 0), LOGIT_SCALE_MAX);
  if (c !== s) model.gpu.write(p.buffer, new Float32Array([c]), p.offset * 4);
  return c;
}

export interface StepResult {
  parts: LossParts;
  /** Outputs kept for inspection when asked (the caller releases them). */
  outputs?: CocaOutputs;
}

/** Forward, loss and backward for one batch. Gradients accumulate into the parameters' .grad. */
export async function lossAndBackward(model: CocaModel, inp: PreparedInputs, weights = DEFAULT_LOSS_WEIGHTS, keepOutputs = false): Promise<StepResult> {
  const gpu = model.gpu;
  const { B, L } = inp;
  const E = model.config.embed_dim;
  const V = model.config.multimodal_cfg.vocab_size;
  const tape = new Tape();
  const targets = uploadTokenIds(gpu, captionTargets(inp.text, B, L, model.config.text_cfg.pad_id), { shape: [B * L], label: 'caption_targets' });
  try {
    const out = withTape(tape, () => model.forward(inp));
    const caption = withTape(tape, () => crossEntropy(reshape(out.logits, [B * L, V]), targets));
    for (const t of [out.imageEmbedding, out.textEmbedding, caption]) tape.keep(t);
    if (keepOutputs) for (const t of [out.imageTokens, out.textTokens, out.logits]) tape.keep(t);
    const scale = await clampedLogitScale(model);
    const [img, txt, cap] = [await out.imageEmbedding.toArray(), await out.textEmbedding.toArray(), (await caption.toArray())[0]!];
    const con = contrastiveLoss(img, txt, scale, B, E, weights.contrastive);
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
    const parts = { contrastive: con.loss, caption: cap, total: weights.contrastive * con.loss + weights.caption * cap, logitScale: scale };
    return { parts, outputs: keepOutputs ? out : undefined };
  } finally {
    releaseTokenIds(gpu, targets);
  }
}
