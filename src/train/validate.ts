// Validation during training: both losses over the validation split, and retrieval R@1 in both
// directions between its images and captions (one caption per image).
import type { BatchLoader } from '../data/loader.ts';
import { retrievalRecall, similarity } from '../eval/recall.ts';
import { normaliseRows } from '../infer/embed.ts';
import type { CocaInputs, CocaModel } from '../model/coca.ts';
import { computeLoss, type LossWeights } from '../model/loss.ts';
import { cachedLoss } from './gradcache.ts';

export interface Validation {
  contrastive: number;
  caption: number;
  total: number;
  /** Fraction of images whose own caption ranks first among all validation captions. */
  imageToTextR1: number;
  textToImageR1: number;
  items: number;
}

/** With microBatch, each batch's loss is computed that many pairs at a time (gradient caching's memory bound), its contrastive loss still over the whole batch. */
export async function validate(model: CocaModel, loader: BatchLoader, weights: LossWeights, maxItems = 2048, microBatch?: number): Promise<Validation> {
  const E = model.config.embed_dim;
  loader.restore({ ...loader.state(), epoch: 0, index: 0 });
  const imgs: Float32Array[] = [];
  const txts: Float32Array[] = [];
  let capSum = 0;
  let capRows = 0;
  let conSum = 0;
  let batches = 0;
  let items = 0;
  for (;;) {
    const b = await loader.next();
    const rows = { images: b.images, text: b.tokens, batch: b.rows };
    const r = microBatch !== undefined ? await cachedLoss(model, rows, microBatch, weights) : await lossOfOnePiece(model, rows, weights);
    conSum += r.parts.contrastive;
    // The caption loss is a mean over counted tokens; weigh each batch's by its count.
    capSum += r.parts.caption * r.captionTargets;
    capRows += r.captionTargets;
    batches++;
    imgs.push(normaliseRows(r.imageEmbedding, E));
    txts.push(normaliseRows(r.textEmbedding, E));
    items += b.rows;
    if (b.last || items >= maxItems) break;
  }
  const cat = (xs: Float32Array[]) => {
    const out = new Float32Array(xs.reduce((s, x) => s + x.length, 0));
    let at = 0;
    for (const x of xs) {
      out.set(x, at);
      at += x.length;
    }
    return out;
  };
  // One caption per image, in order: caption i belongs to image i. Ties count against the model.
  const r = retrievalRecall(similarity(cat(imgs), cat(txts), items, items, E), items, items, Array.from({ length: items }, (_, i) => i), [1]);
  const contrastive = conSum / batches;
  const caption = capSum / Math.max(capRows, 1);
  return { contrastive, caption, total: weights.contrastive * contrastive + weights.caption * caption, imageToTextR1: r.imageToText[0]!, textToImageR1: r.textToImage[0]!, items };
}

async function lossOfOnePiece(model: CocaModel, rows: CocaInputs, weights: LossWeights) {
  const inp = model.prepare(rows);
  return computeLoss(model, inp, weights).finally(() => inp.release());
}
