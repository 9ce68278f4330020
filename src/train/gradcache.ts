// Gradient caching (GradCache, Gao et al. 2021; `coca train --contrastive-batch N --micro-batch M`):
// the contrastive loss of N pairs with only M pairs' activations in memory at once.
//   1. Each micro-batch's image and text embeddings, forward only (no tape), gathered into [N, E].
//   2. The contrastive loss over the N×N similarities on the GPU (kernels/contrastive.ts), with its
//      gradient with respect to every embedding and to the logit scale.
//   3. Each micro-batch again, forward on the tape, and backward from its rows of those embedding
//      gradients plus its own captioning loss, weighted by its share of the batch's caption tokens
//      (the captioning loss is a mean over the whole batch's counted tokens), so the parameters'
//      gradients add up to those of the one big batch.
// The model has no dropout and pictures are augmented on the CPU before the batch is split, so
// the second forward sees exactly the inputs of the first: nothing random needs replaying.
// What stays on the GPU beyond one micro-batch is four [N, E] blocks: embeddings and gradients.
import type { CocaInputs, CocaModel } from '../model/coca.ts';
import { captionLoss, captionTargets, DEFAULT_LOSS_WEIGHTS, LOGIT_SCALE_MAX, uploadCaptionTargets, type LossEval, type LossParts, type LossWeights } from '../model/loss.ts';
import { IGNORE_INDEX, releaseTokenIds } from '../tensor/ids.ts';
import { contrastiveLoss } from '../tensor/ops/contrastive.ts';
import { noGrad, Tape, withTape } from '../tensor/tape.ts';
import { Tensor, tidy } from '../tensor/tensor.ts';
import type { AdamW } from './adamw.ts';
import { DEFAULT_CLIP, type StepOptions, type StepReport } from './step.ts';

/** Rows [0, M), [M, 2M), … of a batch; the last may be shorter. */
export function splitBatch(batch: CocaInputs, M: number): CocaInputs[] {
  const N = batch.batch;
  if (!Number.isInteger(M) || M < 1) throw new RangeError(`micro-batch ${M} must be a positive integer`);
  const px = batch.images.length / N;
  const L = batch.text.length / N;
  const out: CocaInputs[] = [];
  for (let s = 0; s < N; s += M) {
    const rows = Math.min(M, N - s);
    out.push({ images: batch.images.subarray(s * px, (s + rows) * px), text: batch.text.subarray(s * L, (s + rows) * L), batch: rows, ...(batch.groups ? { groups: batch.groups.subarray(s, s + rows) } : {}) });
  }
  return out;
}

/** Caption targets that count (not padding) in a batch's token rows. */
function countedTargets(model: CocaModel, m: CocaInputs): number {
  const L = m.text.length / m.batch;
  return captionTargets(m.text, m.batch, L, model.config.text_cfg.pad_id).filter((t) => t !== IGNORE_INDEX).length;
}

/** The batch's image and text embeddings [N, E], computed M rows at a time without the tape. */
function embedInPieces(model: CocaModel, micro: readonly CocaInputs[], N: number): { image: Tensor; text: Tensor } {
  const gpu = model.gpu;
  const E = model.config.embed_dim;
  const image = Tensor.empty(gpu, [N, E], 'cached_image_embeddings');
  const text = Tensor.empty(gpu, [N, E], 'cached_text_embeddings');
  let row = 0;
  for (const m of micro) {
    const inp = model.prepare(m);
    try {
      // Only the two towers: the captioning decoder does not reach the embeddings.
      noGrad(() =>
        tidy(() => {
          const img = model.encodeImage(inp.patches).embedding;
          const txt = model.encodeText(inp).embedding;
          gpu.copy(img.buffer, image.buffer, m.batch * E * 4, img.offset * 4, (image.offset + row * E) * 4);
          gpu.copy(txt.buffer, text.buffer, m.batch * E * 4, txt.offset * 4, (text.offset + row * E) * 4);
        }),
      );
    } finally {
      inp.release();
    }
    row += m.batch;
  }
  return { image, text };
}

/**
 * Leaves in the parameters' gradients (zeroed first) those of one batch of all N rows under
 * λ_con·contrastive + λ_cap·caption, computed in micro-batches of M rows; the logit scale is
 * clamped as a training step clamps it. Returns the batch's loss parts (one read-back). With a
 * `lossScale` S (mixed precision), the gradients left are S times those.
 */
export async function cachedGradients(model: CocaModel, batch: CocaInputs, M: number, weights: LossWeights = DEFAULT_LOSS_WEIGHTS, lossScale = 1, labelSmoothing = 0): Promise<LossParts> {
  const gpu = model.gpu;
  const micro = splitBatch(batch, M);
  const counts = micro.map((m) => countedTargets(model, m));
  const totalCount = counts.reduce((a, b) => a + b, 0);
  model.params.zeroGrad();
  // [caption of the batch (unused), contrastive, clamped log-scale, caption of each micro-batch…]
  const stats = gpu.alloc(3 + micro.length, 'gradcache_stats');
  let dImage: Tensor | null = null;
  let dText: Tensor | null = null;
  try {
    const emb = embedInPieces(model, micro, batch.batch);
    try {
      const g = contrastiveLoss(emb.image, emb.text, model.params.get('logit_scale'), {
        maxLogScale: LOGIT_SCALE_MAX,
        out: { buffer: stats, at: 1 },
        grads: { weight: weights.contrastive * lossScale },
        clampParam: true,
        groups: batch.groups,
      })!;
      dImage = g.dImage;
      dText = g.dText;
    } finally {
      emb.image.release();
      emb.text.release();
    }
    let row = 0;
    for (const [i, m] of micro.entries()) {
      backwardPiece(model, m, {
        dImage: dImage.narrow(row, m.batch),
        dText: dText.narrow(row, m.batch),
        captionWeight: totalCount > 0 ? (lossScale * weights.caption * counts[i]!) / totalCount : 0,
        captionOut: { buffer: stats, at: 3 + i },
        labelSmoothing,
      });
      row += m.batch;
    }
    const st = await gpu.read(stats, 3 + micro.length, 0, 'train:gradcache');
    let caption = 0;
    for (let i = 0; i < micro.length; i++) if (counts[i]! > 0) caption += (st[3 + i]! * counts[i]!) / totalCount;
    const contrastive = st[1]!;
    return { contrastive, caption, total: weights.contrastive * contrastive + weights.caption * caption, logitScale: st[2]! };
  } finally {
    dImage?.release();
    dText?.release();
    gpu.release(stats);
  }
}

/**
 * One micro-batch forward on the tape and backward from the cached gradients of its embeddings
 * (owned by the tape from here) and its weighted captioning loss; its caption loss lands in
 * captionOut.
 */
function backwardPiece(model: CocaModel, m: CocaInputs, o: { dImage: Tensor; dText: Tensor; captionWeight: number; captionOut: { buffer: GPUBuffer; at: number }; labelSmoothing: number }): void {
  const gpu = model.gpu;
  const inp = model.prepare(m);
  const { targets } = uploadCaptionTargets(model, inp);
  const tape = new Tape();
  try {
    const out = withTape(tape, () => model.forward(inp));
    const caption = withTape(tape, () => captionLoss(model, out, inp, targets, o.labelSmoothing));
    const roots = [out.imageEmbedding, out.textEmbedding, caption];
    for (const t of roots) tape.keep(t);
    gpu.copy(caption.buffer, o.captionOut.buffer, 4, caption.offset * 4, o.captionOut.at * 4);
    tape.backwardFrom([
      [caption, Tensor.fromArray(gpu, [o.captionWeight], [1], 'd_caption')],
      [out.imageEmbedding, o.dImage],
      [out.textEmbedding, o.dText],
    ]);
    for (const t of roots) {
      t.grad?.release();
      t.grad = null;
      t.release();
    }
  } finally {
    tape.dispose();
    releaseTokenIds(gpu, targets);
    inp.release();
  }
}

/** One optimiser step on a batch whose contrastive loss spans all its rows, M rows in memory at a time. */
export async function gradCachedStep(model: CocaModel, opt: AdamW, batch: CocaInputs, M: number, o: StepOptions = {}): Promise<StepReport> {
  const parts = await cachedGradients(model, batch, M, o.weights ?? DEFAULT_LOSS_WEIGHTS, o.lossScale, o.labelSmoothing);
  const g = await opt.clipGradNorm(o.clip ?? DEFAULT_CLIP, o.lossScale);
  const nonFinite = !Number.isFinite(parts.total) ? `the loss (${!Number.isFinite(parts.caption) ? 'caption' : 'contrastive'}) is ${parts.total}` : g.nonFinite ? 'a gradient is NaN or Inf' : null;
  if (!nonFinite) {
    if (o.lr !== undefined) opt.hyper.lr = o.lr;
    opt.update(g.scale);
  }
  return { ...parts, gradNorm: g.norm, nonFinite };
}

/**
 * The loss of one batch forward only, M rows at a time (validation under gradient caching): the
 * contrastive loss over all its rows, the caption loss a mean over all its counted tokens.
 */
export async function cachedLoss(model: CocaModel, batch: CocaInputs, M: number, weights: LossWeights = DEFAULT_LOSS_WEIGHTS): Promise<LossEval> {
  const gpu = model.gpu;
  const micro = splitBatch(batch, M);
  const counts = micro.map((m) => countedTargets(model, m));
  const totalCount = counts.reduce((a, b) => a + b, 0);
  const E = model.config.embed_dim;
  const image = Tensor.empty(gpu, [batch.batch, E], 'cached_image_embeddings');
  const text = Tensor.empty(gpu, [batch.batch, E], 'cached_text_embeddings');
  const stats = gpu.alloc(3 + micro.length, 'gradcache_loss_stats');
  try {
    let row = 0;
    for (const [i, m] of micro.entries()) {
      const inp = model.prepare(m);
      const { targets } = uploadCaptionTargets(model, inp);
      try {
        noGrad(() =>
          tidy(() => {
            const out = model.forward(inp);
            const caption = captionLoss(model, out, inp, targets);
            gpu.copy(out.imageEmbedding.buffer, image.buffer, m.batch * E * 4, out.imageEmbedding.offset * 4, (image.offset + row * E) * 4);
            gpu.copy(out.textEmbedding.buffer, text.buffer, m.batch * E * 4, out.textEmbedding.offset * 4, (text.offset + row * E) * 4);
            gpu.copy(caption.buffer, stats, 4, caption.offset * 4, (3 + i) * 4);
          }),
        );
      } finally {
        releaseTokenIds(gpu, targets);
        inp.release();
      }
      row += m.batch;
    }
    contrastiveLoss(image, text, model.params.get('logit_scale'), { maxLogScale: LOGIT_SCALE_MAX, out: { buffer: stats, at: 1 } });
    const [img, txt] = [await image.toArray(), await text.toArray()];
    const st = await gpu.read(stats, 3 + micro.length, 0, 'val:gradcache');
    let caption = 0;
    for (let i = 0; i < micro.length; i++) if (counts[i]! > 0) caption += (st[3 + i]! * counts[i]!) / totalCount;
    const contrastive = st[1]!;
    return {
      parts: { contrastive, caption, total: weights.contrastive * contrastive + weights.caption * caption, logitScale: st[2]! },
      imageEmbedding: img,
      textEmbedding: txt,
      captionTargets: totalCount,
    };
  } finally {
    image.release();
    text.release();
    gpu.release(stats);
  }
}
