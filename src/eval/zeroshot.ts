// Zero-shot classification accuracy: each image is scored against one text embedding per class
// name, and top-k accuracy is the fraction whose true class is among the k best scores. This is
// DeViSE's "flat hit@k" (Frome et al. 2013): flat because any miss counts, however close in the
// label hierarchy (their hierarchical precision@k is not computed here).
// Ties count against the model, as in recall.ts: rank = 1 + #{other classes scoring ≥ true}.

export interface TopKResult {
  ks: number[];
  /** accuracy[j]: fraction of samples whose true class ranks within ks[j]. */
  accuracy: number[];
  /** 1-based rank of the true class of each sample. */
  ranks: Int32Array;
}

/** scores: [nSamples, nClasses] row-major; labels[i] in [0, nClasses). */
export function topKAccuracy(
  scores: ArrayLike<number>, nSamples: number, nClasses: number,
  labels: ArrayLike<number>, ks: readonly number[] = [1, 5],
): TopKResult {
  if (scores.length !== nSamples * nClasses) throw new Error(`zero-shot: ${scores.length} scores, expected ${nSamples}×${nClasses}`);
  if (labels.length !== nSamples) throw new Error(`zero-shot: ${labels.length} labels for ${nSamples} samples`);
  const ranks = new Int32Array(nSamples);
  for (let i = 0; i < nSamples; i++) {
    const y = labels[i]!;
    if (!(Number.isInteger(y) && y >= 0 && y < nClasses)) throw new Error(`zero-shot: label ${y} of sample ${i} is not a class in [0, ${nClasses})`);
    const t = scores[i * nClasses + y]!;
    let ahead = 0;
    for (let c = 0; c < nClasses; c++) if (c !== y && !(scores[i * nClasses + c]! < t)) ahead++;
    ranks[i] = ahead + 1;
  }
  const accuracy = ks.map((k) => {
    let hits = 0;
    for (const r of ranks) if (r <= k) hits++;
    return nSamples === 0 ? NaN : hits / nSamples;
  });
  return { ks: [...ks], accuracy, ranks };
}
