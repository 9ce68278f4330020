// Retrieval Recall@K in both directions from an image×text similarity matrix, where an image
// may have several captions and (for deduplicated captions) a caption several images.
//   image→text: a hit at K if any of the image's captions ranks within the top K texts;
//   text→image: a hit at K if any of the caption's images ranks within the top K images.
// Ties count against the model: the rank of the best positive is
//   1 + #{negatives scoring ≥ the best positive},
// so a constant similarity matrix scores the worst case, not the best, and a model that
// collapses all embeddings cannot look good. NaN positives are skipped (all NaN: the last rank);
// NaN negatives rank ahead.

/** Dot products of the rows of a [na, E] with the rows of b [nb, E]: [na, nb]. */
export function similarity(a: Float32Array, b: Float32Array, na: number, nb: number, E: number): Float32Array {
  const s = new Float32Array(na * nb);
  for (let i = 0; i < na; i++) {
    for (let j = 0; j < nb; j++) {
      let d = 0;
      for (let e = 0; e < E; e++) d += a[i * E + e]! * b[j * E + e]!;
      s[i * nb + j] = d;
    }
  }
  return s;
}

export interface RecallResult {
  ks: number[];
  /** imageToText[j]: fraction of images with a caption in the top ks[j]. */
  imageToText: number[];
  textToImage: number[];
  /** 1-based rank of each image's best caption, and of each caption's best image. */
  ranksI2T: Int32Array;
  ranksT2I: Int32Array;
}

/** Rank of the best positive among n scores read at base + i·stride. */
function bestPositiveRank(
  sim: ArrayLike<number>, base: number, stride: number, n: number, isPos: (i: number) => boolean,
): number {
  let best = -Infinity;
  let any = false;
  for (let i = 0; i < n; i++) {
    if (!isPos(i)) continue;
    any = true;
    const s = sim[base + i * stride]!;
    if (s > best) best = s;
  }
  if (!any) throw new Error('recall: an item has no positive to retrieve');
  let ahead = 0;
  for (let i = 0; i < n; i++) {
    if (isPos(i)) continue;
    const s = sim[base + i * stride]!;
    if (!(s < best)) ahead++;
  }
  return ahead + 1;
}

/** Fraction of ranks ≤ k. */
export function recallFromRanks(ranks: ArrayLike<number>, k: number): number {
  let hits = 0;
  for (let i = 0; i < ranks.length; i++) if (ranks[i]! <= k) hits++;
  return ranks.length === 0 ? NaN : hits / ranks.length;
}

/**
 * Recall@K with relevance given as (image, text) pairs.
 * sim: [nImages, nTexts] row-major (image i, text j at i·nTexts + j).
 */
export function retrievalRecallPairs(
  sim: ArrayLike<number>, nImages: number, nTexts: number,
  pairs: readonly (readonly [number, number])[], ks: readonly number[] = [1, 5, 10],
): RecallResult {
  if (sim.length !== nImages * nTexts) throw new Error(`recall: similarity has ${sim.length} entries, expected ${nImages}×${nTexts}`);
  const rel = new Uint8Array(nImages * nTexts);
  for (const [i, j] of pairs) {
    if (!(i >= 0 && i < nImages && j >= 0 && j < nTexts)) throw new Error(`recall: pair (${i}, ${j}) out of range`);
    rel[i * nTexts + j] = 1;
  }
  const ranksI2T = new Int32Array(nImages);
  for (let i = 0; i < nImages; i++) ranksI2T[i] = bestPositiveRank(sim, i * nTexts, 1, nTexts, (j) => rel[i * nTexts + j] === 1);
  const ranksT2I = new Int32Array(nTexts);
  for (let j = 0; j < nTexts; j++) ranksT2I[j] = bestPositiveRank(sim, j, nTexts, nImages, (i) => rel[i * nTexts + j] === 1);
  return {
    ks: [...ks],
    imageToText: ks.map((k) => recallFromRanks(ranksI2T, k)),
    textToImage: ks.map((k) => recallFromRanks(ranksT2I, k)),
    ranksI2T,
    ranksT2I,
  };
}

/** Recall@K when each caption j belongs to exactly one image, textImage[j]. */
export function retrievalRecall(
  sim: ArrayLike<number>, nImages: number, nTexts: number,
  textImage: ArrayLike<number>, ks: readonly number[] = [1, 5, 10],
): RecallResult {
  if (textImage.length !== nTexts) throw new Error(`recall: ${textImage.length} caption owners for ${nTexts} captions`);
  const pairs = Array.from({ length: nTexts }, (_, j) => [textImage[j]!, j] as const);
  return retrievalRecallPairs(sim, nImages, nTexts, pairs, ks);
}
