// BLEU-1..n as coco-caption's pycocoevalcap/bleu (Papineni et al. 2002, David Chiang's scorer):
//   clipped matches  correct_k = Σ_ngram min(count_hyp, max over refs of count_ref)
//   guesses          guess_k   = max(0, |hyp| − k + 1)
//   BLEU-k = (Π_{j≤k} (correct_j + tiny) / (guess_j + small))^(1/k) · BP,
//   BP = exp(1 − r/c) when c < r, where c = hypothesis length and r = the reference length
//   closest to c (ties to the shorter: Python's min over (|l − c|, l) tuples).
// The corpus score sums correct, guess, c and r over all images before applying the formula
// (it is not the mean of per-image scores); per-image scores use the same formula on one image.
// tiny = 1e-15 and small = 1e-9 are coco-caption's: they avoid 0/0 and make no matches score
// ~0 rather than exactly 0 (an order with no n-grams at all, a hypothesis shorter than k,
// contributes a factor 1e-6). Keeping them keeps our numbers equal to published ones.
import { ngramCounts } from './ngrams.ts';

const TINY = 1e-15;
const SMALL = 1e-9;

/** Sufficient statistics of one image, or of a corpus when summed. */
export interface BleuStats {
  testLen: number;
  refLen: number;
  guess: number[];
  correct: number[];
}

export interface BleuResult {
  /** Corpus BLEU-1..n. */
  bleu: number[];
  /** perImage[k-1][i]: BLEU-k of image i on its own (coco-caption's second return value). */
  perImage: number[][];
  /** Summed statistics, as coco-caption prints them with verbose=1. */
  stats: BleuStats;
}

/** The reference length closest to `testLen`; on a tie the shorter one. */
export function closestRefLen(testLen: number, refLens: readonly number[]): number {
  let best = refLens[0]!;
  for (const l of refLens) {
    const d = Math.abs(l - testLen);
    const db = Math.abs(best - testLen);
    if (d < db || (d === db && l < best)) best = l;
  }
  return best;
}

/** Statistics of one tokenised hypothesis against its tokenised references. */
export function bleuImageStats(hyp: readonly string[], refs: readonly (readonly string[])[], n = 4): BleuStats {
  if (refs.length === 0) throw new Error('bleu: every image needs at least one reference caption');
  const maxRef: Map<string, number>[] = Array.from({ length: n }, () => new Map());
  for (const ref of refs) {
    ngramCounts(ref, n).forEach((m, k) => {
      for (const [g, c] of m) maxRef[k]!.set(g, Math.max(maxRef[k]!.get(g) ?? 0, c));
    });
  }
  const correct = ngramCounts(hyp, n).map((m, k) => {
    let s = 0;
    for (const [g, c] of m) s += Math.min(maxRef[k]!.get(g) ?? 0, c);
    return s;
  });
  const guess = Array.from({ length: n }, (_, k) => Math.max(0, hyp.length - k));
  const refLen = closestRefLen(hyp.length, refs.map((r) => r.length));
  return { testLen: hyp.length, refLen, guess, correct };
}

/** BLEU-1..n from (possibly summed) statistics, with coco-caption's smoothing and penalty. */
export function bleuFromStats(s: BleuStats): number[] {
  const out: number[] = [];
  let prod = 1;
  for (let k = 0; k < s.guess.length; k++) {
    prod *= (s.correct[k]! + TINY) / (s.guess[k]! + SMALL);
    out.push(prod ** (1 / (k + 1)));
  }
  const ratio = (s.testLen + TINY) / (s.refLen + SMALL);
  if (ratio < 1) {
    const bp = Math.exp(1 - 1 / ratio);
    for (let k = 0; k < out.length; k++) out[k]! *= bp;
  }
  return out;
}

/** Corpus and per-image BLEU-1..n; hyps[i] is scored against refs[i] (all tokenised). */
export function bleu(
  hyps: readonly (readonly string[])[],
  refs: readonly (readonly (readonly string[])[])[],
  n = 4,
): BleuResult {
  if (hyps.length !== refs.length) throw new Error(`bleu: ${hyps.length} hypotheses but ${refs.length} reference sets`);
  const total: BleuStats = { testLen: 0, refLen: 0, guess: new Array(n).fill(0), correct: new Array(n).fill(0) };
  const perImage: number[][] = Array.from({ length: n }, () => []);
  hyps.forEach((hyp, i) => {
    const s = bleuImageStats(hyp, refs[i]!, n);
    total.testLen += s.testLen;
    total.refLen += s.refLen;
    for (let k = 0; k < n; k++) {
      total.guess[k]! += s.guess[k]!;
      total.correct[k]! += s.correct[k]!;
    }
    bleuFromStats(s).forEach((v, k) => perImage[k]!.push(v));
  });
  return { bleu: bleuFromStats(total), perImage, stats: total };
}
