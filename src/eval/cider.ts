// CIDEr-D as coco-caption's pycocoevalcap/cider (Vedantam et al. 2015; the scorer named "CIDEr"
// there is the D variant). For each n-gram order k = 1..n:
//   g(ngram) = tf · (log N − log max(1, df)),   N = number of images evaluated,
//     df = number of images whose references contain the n-gram (from references only);
//   sim_k(h, r) = Σ_{ngram ∈ h} min(g_h, g_r) · g_r / (‖g_h‖ ‖g_r‖) · exp(−δ² / 2σ²);
//   CIDEr-D(image) = 10 · mean_k (1/|refs|) Σ_refs sim_k(h, r);   corpus = mean over images.
// Two quirks of the reference code are kept on purpose so numbers match published ones:
//   - δ is the difference of *bigram* counts (its `if n == 1` tests the 0-based order), which
//     equals the word-count difference except when a sentence has 0 or 1 words;
//   - with a single image log N = 0, so every score is 0 (IDF needs a corpus).
import { ngramCounts } from './ngrams.ts';

export interface CiderOptions {
  /** Highest n-gram order (4). */
  n?: number;
  /** σ of the Gaussian length penalty (6). */
  sigma?: number;
}

export interface CiderResult {
  /** Mean over images. */
  score: number;
  perImage: number[];
}

interface TfIdf {
  vec: Map<string, number>[];
  norm: number[];
  bigrams: number;
}

function tfidf(counts: Map<string, number>[], df: Map<string, number>, logN: number): TfIdf {
  const vec = counts.map((m) => {
    const v = new Map<string, number>();
    for (const [g, tf] of m) v.set(g, tf * (logN - Math.log(Math.max(1, df.get(g) ?? 0))));
    return v;
  });
  const norm = vec.map((v) => {
    let s = 0;
    for (const x of v.values()) s += x * x;
    return Math.sqrt(s);
  });
  let bigrams = 0;
  if (counts.length > 1) for (const c of counts[1]!.values()) bigrams += c;
  return { vec, norm, bigrams };
}

// One row of per-order similarities, summed into `acc`.
function addSim(acc: number[], h: TfIdf, r: TfIdf, sigma: number): void {
  const delta = h.bigrams - r.bigrams;
  const penalty = Math.E ** (-(delta * delta) / (2 * sigma * sigma));
  for (let k = 0; k < acc.length; k++) {
    let val = 0;
    const rv = r.vec[k]!;
    // Clipping min(g_h, g_r) is what stops a caption repeating a rare word from gaming the score.
    for (const [g, x] of h.vec[k]!) {
      const y = rv.get(g) ?? 0;
      val += Math.min(x, y) * y;
    }
    if (h.norm[k] !== 0 && r.norm[k] !== 0) val /= h.norm[k]! * r.norm[k]!;
    acc[k]! += val * penalty;
  }
}

/** CIDEr-D of tokenised hypotheses hyps[i] against tokenised references refs[i]. */
export function ciderD(
  hyps: readonly (readonly string[])[],
  refs: readonly (readonly (readonly string[])[])[],
  opts: CiderOptions = {},
): CiderResult {
  const n = opts.n ?? 4;
  const sigma = opts.sigma ?? 6;
  if (hyps.length !== refs.length) throw new Error(`cider: ${hyps.length} hypotheses but ${refs.length} reference sets`);
  if (hyps.length === 0) return { score: NaN, perImage: [] };
  const refCounts = refs.map((rs, i) => {
    if (rs.length === 0) throw new Error(`cider: image ${i} has no reference caption`);
    return rs.map((r) => ngramCounts(r, n));
  });
  const df = new Map<string, number>();
  for (const image of refCounts) {
    const seen = new Set<string>();
    for (const counts of image) for (const m of counts) for (const g of m.keys()) seen.add(g);
    for (const g of seen) df.set(g, (df.get(g) ?? 0) + 1);
  }
  const logN = Math.log(hyps.length);
  const perImage = hyps.map((hyp, i) => {
    const h = tfidf(ngramCounts(hyp, n), df, logN);
    const acc = new Array<number>(n).fill(0);
    for (const rc of refCounts[i]!) addSim(acc, h, tfidf(rc, df, logN), sigma);
    const mean = acc.reduce((a, b) => a + b, 0) / n;
    return (mean / refCounts[i]!.length) * 10;
  });
  return { score: perImage.reduce((a, b) => a + b, 0) / perImage.length, perImage };
}
