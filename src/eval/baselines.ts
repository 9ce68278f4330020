// Baselines printed beside the model so that a number means something:
//   - chance: what random scores would give, computed exactly from the set sizes;
//   - nearest-neighbour caption: each eval image gets the caption of the training image whose
//     embedding is closest (cosine), a strong captioning baseline on small data (Devlin et al.
//     2015 use a consensus over k neighbours; we take k = 1 as the issue specifies);
//   - random caption: a uniformly drawn training caption, the captioning "chance" row.
import { Rng } from '../util/prng.ts';

/**
 * P(at least one of `positives` items lands in the top k of `candidates`) under a uniformly
 * random order: 1 − C(N−p, k)/C(N, k) = 1 − Π_{i<k} (N−p−i)/(N−i).
 */
export function hitChance(candidates: number, positives: number, k: number): number {
  if (positives <= 0) return 0;
  let miss = 1;
  for (let i = 0; i < Math.min(k, candidates); i++) {
    if (candidates - positives - i <= 0) return 1;
    miss *= (candidates - positives - i) / (candidates - i);
  }
  return 1 - miss;
}

/** Chance Recall@K in both directions for relevance given as (image, text) pairs. */
export function retrievalChance(
  nImages: number, nTexts: number, pairs: readonly (readonly [number, number])[],
  ks: readonly number[] = [1, 5, 10],
): { ks: number[]; imageToText: number[]; textToImage: number[] } {
  const perImage = new Int32Array(nImages);
  const perText = new Int32Array(nTexts);
  const seen = new Set<number>();
  for (const [i, j] of pairs) {
    if (seen.has(i * nTexts + j)) continue;
    seen.add(i * nTexts + j);
    perImage[i]!++;
    perText[j]!++;
  }
  const mean = (counts: Int32Array, n: number, k: number) =>
    counts.reduce((a, p) => a + hitChance(n, p, k), 0) / counts.length;
  return {
    ks: [...ks],
    imageToText: ks.map((k) => mean(perImage, nTexts, k)),
    textToImage: ks.map((k) => mean(perText, nImages, k)),
  };
}

/** Chance top-k accuracy over nClasses equally likely classes. */
export function topKChance(nClasses: number, k: number): number {
  return Math.min(1, k / nClasses);
}

export interface NearestNeighbourResult {
  /** Index of the nearest training image for each eval image (ties: the lowest index). */
  index: Int32Array;
  /** Its cosine similarity. */
  similarity: Float32Array;
  captions: string[];
}

function inverseNorms(x: Float32Array, dim: number): Float64Array {
  const n = x.length / dim;
  const inv = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let d = 0; d < dim; d++) s += x[i * dim + d]! * x[i * dim + d]!;
    inv[i] = s > 0 ? 1 / Math.sqrt(s) : 0; // a zero embedding is similar to nothing
  }
  return inv;
}

/**
 * Caption of the nearest training image by cosine similarity of image embeddings.
 * evalEmb: [nEval, dim], trainEmb: [nTrain, dim] row-major; trainCaptions[t] for image t
 * (the caller picks which caption when a training image has several).
 */
export function nearestNeighbourCaptions(
  evalEmb: Float32Array, trainEmb: Float32Array, dim: number, trainCaptions: readonly string[],
): NearestNeighbourResult {
  if (evalEmb.length % dim !== 0 || trainEmb.length % dim !== 0) throw new Error(`nearest neighbour: embedding sizes are not multiples of dim ${dim}`);
  const nEval = evalEmb.length / dim;
  const nTrain = trainEmb.length / dim;
  if (trainCaptions.length !== nTrain) throw new Error(`nearest neighbour: ${trainCaptions.length} captions for ${nTrain} training images`);
  if (nTrain === 0) throw new Error('nearest neighbour: no training images');
  const invE = inverseNorms(evalEmb, dim);
  const invT = inverseNorms(trainEmb, dim);
  const index = new Int32Array(nEval);
  const similarity = new Float32Array(nEval);
  for (let e = 0; e < nEval; e++) {
    let best = -Infinity;
    let arg = 0;
    for (let t = 0; t < nTrain; t++) {
      let dot = 0;
      for (let d = 0; d < dim; d++) dot += evalEmb[e * dim + d]! * trainEmb[t * dim + d]!;
      const cos = dot * invE[e]! * invT[t]!;
      if (cos > best) [best, arg] = [cos, t];
    }
    index[e] = arg;
    similarity[e] = best;
  }
  return { index, similarity, captions: Array.from(index, (t) => trainCaptions[t]!) };
}

/** One uniformly drawn training caption per eval image, reproducible from the seed. */
export function randomCaptions(nEval: number, trainCaptions: readonly string[], seed: number): string[] {
  if (trainCaptions.length === 0) throw new Error('random captions: no training captions');
  const rng = new Rng(seed);
  return Array.from({ length: nEval }, () => trainCaptions[rng.int(trainCaptions.length)]!);
}
