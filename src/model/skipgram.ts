// A skip-gram language model with negative sampling (Mikolov et al. 2013, word2vec's SGNS), on
// the CPU: the "language model trained on text alone" whose word vectors DeViSE (Frome et al.
// 2013, seed 002) regresses images into; the paper used exactly this model, trained on Wikipedia.
// Here it reads plain sentences (the training captions without their pictures, or any text file),
// so what a label's vector knows comes from the words around it in text, never from an image.
//
// Each (centre, context) pair within `window` words is pushed together and `negatives` words drawn
// from the unigram distribution^0.75 are pushed away: loss = −log σ(u_o·v_c) − Σ log σ(−u_k·v_c),
// plain SGD with the rate falling linearly to 0, as word2vec. Deterministic for a seed.
import { Rng } from '../util/prng.ts';

export interface SkipGramOptions {
  dim: number;
  window: number;
  negatives: number;
  epochs: number;
  lr: number;
  /** Words seen fewer times are left out. */
  minCount: number;
  seed: number;
}

export const DEFAULT_SKIPGRAM: SkipGramOptions = { dim: 64, window: 3, negatives: 5, epochs: 10, lr: 0.025, minCount: 1, seed: 1 };

/** Lower-case letter runs: "T-shirt/top" → ["t", "shirt", "top"]. */
export function words(text: string): string[] {
  return text.toLowerCase().match(/\p{L}+/gu) ?? [];
}

export interface WordVectors {
  dim: number;
  /** The input ("v") vectors, word2vec's usual output. */
  vectors: Map<string, Float32Array>;
}

const sigmoid = (x: number) => (x > 30 ? 1 : x < -30 ? 0 : 1 / (1 + Math.exp(-x)));

export function trainSkipGram(sentences: readonly string[], opts: Partial<SkipGramOptions> = {}): WordVectors {
  const o = { ...DEFAULT_SKIPGRAM, ...opts };
  const tokenised = sentences.map(words);
  const counts = new Map<string, number>();
  for (const s of tokenised) for (const w of s) counts.set(w, (counts.get(w) ?? 0) + 1);
  // Sorted so ids (and so the draws) do not depend on the corpus order of first appearance.
  const vocab = [...counts.keys()].filter((w) => counts.get(w)! >= o.minCount).sort();
  const id = new Map(vocab.map((w, i) => [w, i]));
  const V = vocab.length;
  const D = o.dim;
  const rng = new Rng(o.seed);
  const vIn = new Float32Array(V * D);
  for (let i = 0; i < vIn.length; i++) vIn[i] = (rng.next() - 0.5) / D;
  const vOut = new Float32Array(V * D);
  // Unigram^0.75 table for negative draws.
  const table = new Int32Array(Math.max(1, V * 100));
  const pow = vocab.map((w) => counts.get(w)! ** 0.75);
  const total = pow.reduce((a, b) => a + b, 0);
  for (let i = 0, w = 0, acc = pow[0]! / total; i < table.length; i++) {
    table[i] = w;
    if ((i + 1) / table.length > acc && w < V - 1) acc += pow[++w]! / total;
  }
  const ids = tokenised.map((s) => s.map((w) => id.get(w)).filter((x): x is number => x !== undefined));
  const steps = o.epochs * ids.reduce((a, s) => a + s.length, 0);
  const grad = new Float32Array(D);
  let done = 0;
  for (let e = 0; e < o.epochs; e++) {
    for (const s of ids) {
      for (let i = 0; i < s.length; i++) {
        const lr = o.lr * Math.max(1e-4, 1 - done++ / steps);
        const c = s[i]!;
        const span = 1 + rng.int(o.window); // word2vec's shrunk window: nearer words count more
        for (let j = Math.max(0, i - span); j <= Math.min(s.length - 1, i + span); j++) {
          if (j === i) continue;
          grad.fill(0);
          for (let k = 0; k <= o.negatives; k++) {
            const target = k === 0 ? s[j]! : table[rng.int(table.length)]!;
            if (k > 0 && target === s[j]) continue;
            const label = k === 0 ? 1 : 0;
            let dot = 0;
            for (let d = 0; d < D; d++) dot += vIn[c * D + d]! * vOut[target * D + d]!;
            const g = (label - sigmoid(dot)) * lr;
            for (let d = 0; d < D; d++) {
              grad[d]! += g * vOut[target * D + d]!;
              vOut[target * D + d]! += g * vIn[c * D + d]!;
            }
          }
          for (let d = 0; d < D; d++) vIn[c * D + d]! += grad[d]!;
        }
      }
    }
  }
  const vectors = new Map<string, Float32Array>();
  vocab.forEach((w, i) => vectors.set(w, vIn.slice(i * D, (i + 1) * D)));
  return { dim: D, vectors };
}

/**
 * A label's vector: the mean of its words' vectors (a multi-word label such as "ankle boot"),
 * unit length; null when the text never had any of its words (no position in the space to rank).
 */
export function labelVector(wv: WordVectors, label: string): Float32Array | null {
  const sum = new Float64Array(wv.dim);
  let n = 0;
  for (const w of words(label)) {
    const v = wv.vectors.get(w);
    if (!v) continue;
    for (let d = 0; d < wv.dim; d++) sum[d]! += v[d]!;
    n++;
  }
  if (n === 0) return null;
  const norm = Math.hypot(...sum) || 1;
  return Float32Array.from(sum, (x) => x / norm);
}
