// CoCa's own trick at decoding time: beam search's K finished captions of a picture re-ranked by
// the model's image–text similarity, the unimodal text tower reading each candidate as it reads a
// query. score = α·cos(image, caption) + (1 − α)·beam score, the beam score being the candidate's
// length-normalised log-probability (Σ log-prob / length^lengthPenalty: the mean log-prob with
// the default penalty 1).
//
// Default α = 1 (similarity alone): the candidates have all survived beam search, so their
// fluency is already vouched for, and the similarity is what the trick adds; the two terms are on
// unrelated scales (a cosine against a log-prob per token), so a blend's α would have to be tuned
// per model to mean anything. EVAL.md ("Recipes") has the measured effect of α = 1 and 0.5.
import type { CocaModel } from '../model/coca.ts';
import { embedTokenRows } from './embed.ts';
import { SearchError, type Caption, type CheckedSearch } from './search.ts';

export const DEFAULT_RERANK_WEIGHT = 1;

export interface RerankOptions {
  /** α: the similarity's share of the score; 1 − α is the beam score's. */
  weight: number;
}

/** Re-ranking as a person asks for it (flags, form fields), before the checks. */
export interface RerankRequest {
  rerank?: boolean;
  rerankWeight?: number;
}

/**
 * The re-ranking asked for, or undefined when not asked; one-line SearchError when it cannot run:
 * a weight without re-ranking, a weight outside [0, 1], sampling, or a single beam (nothing to
 * choose among). `name` spells an option as the caller's user types it.
 */
export function checkRerank(r: RerankRequest, search: CheckedSearch, name: (k: keyof RerankRequest | 'beams') => string = (k) => k): RerankOptions | undefined {
  if (!r.rerank) {
    if (r.rerankWeight !== undefined) throw new SearchError(`${name('rerankWeight')} weighs the re-ranking: add ${name('rerank')}, or leave it out`);
    return undefined;
  }
  const weight = r.rerankWeight ?? DEFAULT_RERANK_WEIGHT;
  if (!(weight >= 0 && weight <= 1)) throw new SearchError(`${name('rerankWeight')} must be in [0, 1] (1 = similarity alone, 0 = the beam score alone), got ${r.rerankWeight}`);
  if (search.sample) throw new SearchError(`${name('rerank')} re-ranks beam search's captions and sampling draws only one: search with ${name('beams')} 2 or more instead`);
  if (search.beams < 2) throw new SearchError(`${name('rerank')} chooses among the beams' finished captions: give ${name('beams')} 2 or more (got ${search.beams})`);
  return { weight };
}

/** The combined score of a candidate (see the header). */
export function rerankScore(similarity: number, beamScore: number, weight: number): number {
  // Written so that α = 1 ignores a −∞ beam score instead of making 0·−∞ = NaN.
  return weight === 1 ? similarity : weight === 0 ? beamScore : weight * similarity + (1 - weight) * beamScore;
}

/**
 * The candidate with the best combined score (the earlier beam on a tie, so equal similarities
 * keep beam search's order), marked with how it was chosen. `similarities[k]` belongs to cands[k].
 */
export function chooseCandidate(cands: readonly Caption[], similarities: ArrayLike<number>, weight: number): Caption {
  if (cands.length === 0) throw new SearchError('re-ranking: a picture has no finished caption to choose from');
  let best = -1;
  let bestScore = -Infinity;
  cands.forEach((c, k) => {
    const s = rerankScore(similarities[k]!, c.score, weight);
    if (best < 0 || s > bestScore) [best, bestScore] = [k, s];
  });
  return { ...cands[best]!, rerank: { similarity: similarities[best]!, score: bestScore, beamRank: best } };
}

/**
 * Generated captions as the text tower reads a text: [SOT] prefix w1 … [EOT] padded to `L`
 * (the tokenizer's encode: the body cut so that [EOT] stays last; a caption stopped by maxLen
 * gets the [EOT] it never generated). `tokens` are Caption.tokens ([SOT] w1 … [EOT]?).
 */
export function captionTextRows(captions: readonly (readonly number[])[], ids: { sot: number; eot: number; pad: number; prefix?: readonly number[] }, L: number): Int32Array {
  const head = [ids.sot, ...(ids.prefix ?? [])];
  const out = new Int32Array(captions.length * L).fill(ids.pad);
  captions.forEach((t, i) => {
    const end = t[t.length - 1] === ids.eot ? t.length - 1 : t.length;
    const body = t.slice(1, end).slice(0, L - head.length - 1);
    out.set([...head, ...body, ids.eot], i * L);
  });
  return out;
}

/**
 * Each picture's best candidate by `chooseCandidate`: `imageEmb` [B, E] unit rows, `candidates[b]`
 * picture b's finished captions, `ids` the search's (prefix: a multilingual model's language token).
 */
export async function rerankCandidates(model: CocaModel, imageEmb: Float32Array, candidates: readonly Caption[][], ids: { sot: number; eot: number; prefix?: readonly number[] }, o: RerankOptions): Promise<Caption[]> {
  const E = model.config.embed_dim;
  const t = model.config.text_cfg;
  const flat = candidates.flat();
  const txt = await embedTokenRows(model, captionTextRows(flat.map((c) => c.tokens), { ...ids, pad: t.pad_id }, t.context_length), flat.length);
  let at = 0;
  return candidates.map((cands, b) => {
    const sims = cands.map((_, k) => dot(imageEmb, b * E, txt, (at + k) * E, E));
    at += cands.length;
    return chooseCandidate(cands, sims, o.weight);
  });
}

function dot(a: Float32Array, ao: number, b: Float32Array, bo: number, n: number): number {
  let s = 0;
  for (let j = 0; j < n; j++) s += a[ao + j]! * b[bo + j]!;
  return s;
}
