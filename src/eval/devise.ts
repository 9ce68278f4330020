// DeViSE's zero-shot evaluation: every picture of a split ranked against the split's labels by
// t_j·v, flat hit@k (src/eval/zeroshot.ts). The labels are a classification split's class names
// (Fashion-MNIST), else the distinct captions of the pictures scored, a picture's label its first
// caption: the classes CoCa's "captions as classes" section uses (src/eval/run.ts). A label with no
// vector (a text space that never saw its words) cannot be ranked: its pictures count as misses,
// and the coverage (pictures whose label has a vector) is reported beside the hits.
import { BatchLoader, loadDataset, type ImagePreprocess, type Tokenizer } from '../data/index.ts';
import type { Gpu } from '../gpu/gpu.ts';
import { hingeRankLoss, type DeviseModel } from '../model/devise.ts';
import type { LabelSpace } from '../model/devise-space.ts';
import { Tensor } from '../tensor/tensor.ts';
import { topKChance } from './baselines.ts';
import { topKMetrics, type EvalSection } from './report.ts';
import { topKAccuracy } from './zeroshot.ts';

export interface DeviseEvalContext {
  model: DeviseModel;
  space: LabelSpace;
  tokenizer: Pick<Tokenizer, 'encodeBatch' | 'languages'>;
  pre: ImagePreprocess;
  batch: number;
  maxItems?: number;
  strict?: boolean;
  margin: number;
}

export interface DeviseZeroShot {
  split: string;
  /** Whether the labels are class names (true) or captions. */
  classes: boolean;
  labels: number;
  /** Labels that have a vector. */
  withVector: number;
  /** Pictures scored, and of them those whose label has a vector. */
  pictures: number;
  covered: number;
  ks: number[];
  /** Pictures whose label ranks within ks[j] (of all pictures: uncovered ones are misses). */
  hits: number[];
  /** Mean hinge rank loss of the covered pictures against the labels with a vector. */
  hinge: number;
}

/** The labels [L, D] as a tensor, rows in order. */
export function labelMatrix(gpu: Gpu, rows: readonly Float32Array[], dim: number): Tensor {
  const m = new Float32Array(rows.length * dim);
  rows.forEach((r, i) => m.set(r, i * dim));
  return Tensor.fromArray(gpu, m, [rows.length, dim], 'label_vectors');
}

export async function deviseZeroShot(ctx: DeviseEvalContext, data: string, split: string, ks: readonly number[] = [1, 5]): Promise<DeviseZeroShot> {
  const ds = await loadDataset(data, { split, imageSize: ctx.pre.size, strict: ctx.strict ?? false });
  const limit = Math.min(ds.length, ctx.maxItems ?? Infinity);
  const classes = ds.classes?.length ? ds.classes : null;
  const labelOf = (i: number) => (classes ? classes[ds.meta(i).label!]! : ds.captions(i)[0]!);
  // The pictures scored are the first `limit` that decode; their labels (captions) are read after.
  const loader = new BatchLoader(ds, { batchSize: ctx.batch, contextLength: 8, tokenizer: ctx.tokenizer, preprocess: ctx.pre, strict: ctx.strict ?? false, train: false });
  const plane = 3 * ctx.pre.size ** 2;
  const batches: { images: Float32Array; indices: number[] }[] = [];
  try {
    for (let seen = 0; seen < limit; ) {
      const b = await loader.next();
      const rows = Math.min(b.rows, limit - seen);
      if (rows > 0) batches.push({ images: b.images.slice(0, rows * plane), indices: [...b.indices.subarray(0, rows)] });
      seen += rows;
      if (b.last) break;
    }
  } finally {
    await loader.close();
  }
  const indices = batches.flatMap((b) => b.indices);
  const names = classes ? [...classes] : [...new Set(indices.flatMap((i) => ds.captions(i)))];
  const vectors = names.map((n) => ctx.space.vector(n));
  const known = names.flatMap((_, j) => (vectors[j] ? [j] : []));
  const col = new Map(known.map((j, c) => [names[j]!, c]));
  const L = known.length;
  const scores: number[] = [];
  const labels: number[] = [];
  let hingeSum = 0;
  if (L > 0) {
    const T = labelMatrix(ctx.model.gpu, known.map((j) => vectors[j]!), ctx.space.dim);
    try {
      for (const b of batches) {
        const s = await ctx.model.scores(b.images, b.indices.length, T);
        b.indices.forEach((item, r) => {
          const c = col.get(labelOf(item));
          if (c === undefined) return;
          const row = s.subarray(r * L, (r + 1) * L);
          scores.push(...row);
          labels.push(c);
          if (L > 1) hingeSum += hingeRankLoss(row, 1, L, [c], ctx.margin).loss;
        });
      }
    } finally {
      T.release();
    }
  }
  const covered = labels.length;
  const ranks = covered > 0 ? topKAccuracy(Float32Array.from(scores), covered, L, labels, ks).ranks : new Int32Array(0);
  ds.close();
  return {
    split,
    classes: !!classes,
    labels: names.length,
    withVector: L,
    pictures: indices.length,
    covered,
    ks: [...ks],
    hits: ks.map((k) => ranks.reduce((n, r) => n + (r <= k ? 1 : 0), 0)),
    hinge: covered > 0 ? hingeSum / covered : NaN,
  };
}

/**
 * The zero-shot result as a `coca eval` section: the model's flat hit@k over all the split's
 * pictures and its coverage, beside chance (a random ranking of all the split's labels).
 */
export function deviseSection(z: DeviseZeroShot, name: string): EvalSection {
  const title = z.classes ? `${z.split} (zero-shot, the labels' vectors)` : `${z.split}, captions as classes (flat hit@k)`;
  const acc = z.hits.map((h) => (z.pictures === 0 ? NaN : h / z.pictures));
  return {
    title,
    sizes: { images: z.pictures, classes: z.labels, 'with a vector': z.withVector },
    rows: [
      { name, metrics: { ...topKMetrics({ ks: z.ks, accuracy: acc }), coverage: z.pictures === 0 ? NaN : z.covered / z.pictures } },
      { name: 'chance', metrics: Object.fromEntries(z.ks.map((k) => [`top${k}`, topKChance(z.labels, k)])) },
    ],
  };
}
