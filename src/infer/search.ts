// Caption search over a Stepper: greedy, beam search and sampling, on the CPU from the logits a
// step returns (V is at most a few thousand; the GPU has nothing left to do once they are read).
//
// Conventions:
// - A caption is [SOT] w1 … wn [EOT]; maxLen counts all of it (open_clip's seq_len), so at most
//   maxLen − 1 tokens are generated; it is capped at the model's context_length.
// - minLen: [EOT] is forbidden until at least minLen tokens follow [SOT].
// - [PAD] and [SOT] are never generated: a generated [PAD] would be masked out of the text
//   tower's attention by the full forward (docs/model.md) but not by the cache, and neither
//   means anything inside a caption. sotAllowed lifts the ban on [SOT] (open_clip's generate,
//   through Hugging Face's, forbids nothing: the option exists for token-for-token parity with it,
//   which with random weights does pick [SOT]); the repetition penalty then counts the leading
//   [SOT] as well, as Hugging Face's penalises the whole input.
// - Repetition penalty θ (CTRL, as Hugging Face): the logit of every token already generated in
//   the row is divided by θ when positive, multiplied by θ when negative.
// - Greedy and sampling: logprobs[i] is log-softmax of the logits after those two adjustments
//   (temperature, top-k and top-p change only which token sampling draws, not the reported
//   log-prob). With neither adjustment they are the model's own log-probabilities.
// - Beam search adjusts log-probabilities instead, as Hugging Face's beam search (and so open_clip's
//   generate) does: log-softmax of the model's logits, then the forbidden tokens and [EOT] before
//   minLen set to −∞ without renormalising the rest, and the repetition penalty applied to the
//   log-prob (multiplied by θ, as it is never positive). logprobs[i] is that adjusted value.
// - Sampling gives every row its own generator (seeded by sample.seed, or sample.rowSeeds[n]), so
//   a picture's caption for a seed is the same alone and in a batch: a user's seed reproduces a
//   caption whatever else is in flight (coca serve batches requests with different seeds).
// - Beam search ranks finished captions by score = Σ logprobs / len^α, len = generated tokens
//   including [EOT] (not [SOT]), α = lengthPenalty (Hugging Face's and open_clip's convention;
//   α = 0: raw sum, favours short captions; α = 1: mean log-prob). Each step keeps the best 2K of
//   the K×V continuations; an [EOT] among the best K becomes a finished caption, the others refill
//   the K beams. An image is done when K captions are finished and its best running beam,
//   normalised at its current length, scores no better than the K-th best of them (a tie included:
//   Hugging Face keeps the K best finished captions and stops when worst ≥ current); at maxLen the
//   running beams are finished as they are.
// - prefix: tokens fed after [SOT] before anything is generated (a multilingual model's language
//   token). They are forced, not generated: they are not in Caption.tokens (which stay [SOT] w1 …),
//   have no log-prob, and count towards maxLen (they take positions) but not towards minLen or the
//   length penalty. banned: tokens never generated (the language tokens).
import { CocaError } from '../util/errors.ts';
import { Rng } from '../util/prng.ts';
import type { Stepper } from './stepper.ts';

export interface SearchOptions {
  maxLen: number;
  minLen?: number;
  beams?: number;
  lengthPenalty?: number;
  repetitionPenalty?: number;
  /** Sampling instead of a search (beams must be 1). */
  sample?: {
    temperature?: number;
    topK?: number;
    topP?: number;
    /** Every row's generator starts from this seed (one generator per picture). */
    seed?: number;
    /** Row n's seed instead (coca serve: several captions of one request, see sampleSeeds). */
    rowSeeds?: readonly number[];
  };
  sot?: number;
  eot?: number;
  /** [SOT] may be generated (see the header); default false. */
  sotAllowed?: boolean;
  /** Never generated; -1 when the pad id is a real token (CLIP pads with 0, which is "!"). */
  pad?: number;
  /** Fed after [SOT] before generating (see the header). */
  prefix?: readonly number[];
  /** Never generated. */
  banned?: readonly number[];
}

/**
 * The search `coca caption` and `coca serve` run when not told otherwise (`coca eval` decodes
 * greedily: beams 1, its own --max-len). The only place these defaults are written.
 */
export const DEFAULT_SEARCH = { beams: 6, maxLen: 30, minLen: 0, lengthPenalty: 1, repetitionPenalty: 1, temperature: 1, topK: 0, topP: 1, seed: 0 } as const;

/** The widest beam accepted: each beam is one more row in every KV cache and every step's logits. */
export const MAX_BEAMS = 32;

/** A search as a person asks for it (CLI flags, form fields), before defaults and checks. */
export interface SearchRequest {
  beams?: number;
  maxLen?: number;
  minLen?: number;
  lengthPenalty?: number;
  repetitionPenalty?: number;
  /** Sample instead of searching (implied by topK, topP or temperature). */
  sample?: boolean;
  topK?: number;
  topP?: number;
  temperature?: number;
  seed?: number;
  /** Let [SOT] be generated (SearchOptions.sotAllowed). */
  allowSot?: boolean;
}

export interface CheckSearchOptions {
  /** How the caller names an option in its messages: `--max-len` on the command line, `maxLen` in a form. */
  name?: (key: keyof SearchRequest) => string;
  /** Narrower than MAX_BEAMS (a server sharing its GPU). */
  maxBeams?: number;
  /** A maxLen above the model's context is cut to it before the checks (the server knows the model). */
  contextLength?: number;
}

/** An impossible search; the message names the option as the caller spells it, and the range. */
export class SearchError extends CocaError {
  override name = 'SearchError';
}

/** A search with every choice made (what checkSearch returns, what the captioner takes). */
export type CheckedSearch = SearchOptions & Required<Pick<SearchOptions, 'beams' | 'minLen' | 'lengthPenalty' | 'repetitionPenalty'>>;

/** The search a request asks for, with DEFAULT_SEARCH filled in; throws a SearchError at the first mistake. */
export function checkSearch(r: SearchRequest, o: CheckSearchOptions = {}): CheckedSearch {
  const name = o.name ?? ((k) => k);
  const fail = (msg: string): never => {
    throw new SearchError(msg);
  };
  const maxBeams = o.maxBeams ?? MAX_BEAMS;
  const int = (key: keyof SearchRequest, v: number | undefined, min: number, max = Infinity) => {
    if (v === undefined || (Number.isInteger(v) && v >= min && v <= max)) return;
    fail(max === Infinity ? `${name(key)} must be an integer ≥ ${min}, got ${v}` : `${name(key)} must be an integer from ${min} to ${max}, got ${v}`);
  };
  int('beams', r.beams, 1, maxBeams);
  int('maxLen', r.maxLen, 2);
  int('minLen', r.minLen, 0);
  int('topK', r.topK, 0);
  const maxLen = Math.min(r.maxLen ?? DEFAULT_SEARCH.maxLen, o.contextLength ?? Infinity);
  const minLen = r.minLen ?? DEFAULT_SEARCH.minLen;
  if (minLen >= maxLen - 1) fail(`${name('minLen')} ${minLen} leaves no room under ${name('maxLen')} ${maxLen} (which counts [SOT] and [EOT])`);
  const repetitionPenalty = r.repetitionPenalty ?? DEFAULT_SEARCH.repetitionPenalty;
  if (!(repetitionPenalty > 0)) fail(`${name('repetitionPenalty')} must be > 0 (1 = off), got ${repetitionPenalty}`);
  const lengthPenalty = r.lengthPenalty ?? DEFAULT_SEARCH.lengthPenalty;
  if (!Number.isFinite(lengthPenalty)) fail(`${name('lengthPenalty')} must be a number, got ${lengthPenalty}`);
  if (r.topP !== undefined && !(r.topP > 0 && r.topP <= 1)) fail(`${name('topP')} must be in (0, 1], got ${r.topP}`);
  if (r.temperature !== undefined && !(r.temperature > 0)) fail(`${name('temperature')} must be > 0, got ${r.temperature}`);
  const sampling = !!r.sample || r.topK !== undefined || r.topP !== undefined || r.temperature !== undefined;
  if (sampling && r.beams !== undefined && r.beams > 1) {
    fail(`sampling draws one caption per image: leave out ${name('beams')}, or drop ${(['sample', 'topK', 'topP', 'temperature'] as const).map(name).join('/')} to search`);
  }
  const D = DEFAULT_SEARCH;
  return {
    maxLen,
    minLen,
    beams: sampling ? 1 : (r.beams ?? D.beams),
    lengthPenalty,
    repetitionPenalty,
    ...(r.allowSot ? { sotAllowed: true } : {}),
    ...(sampling ? { sample: { temperature: r.temperature ?? D.temperature, topK: r.topK ?? D.topK, topP: r.topP ?? D.topP, seed: r.seed ?? D.seed } } : {}),
  };
}

export interface Caption {
  /** [SOT] … [EOT] (no [EOT] when maxLen was reached first). */
  tokens: number[];
  /** One per token after [SOT]. */
  logprobs: number[];
  /** Beam: Σ logprobs / len^α; greedy and sampling: Σ logprobs. */
  score: number;
  /** With attention recording: per generated token, its row of the step's cross-attention [layers, H, Nimg]. */
  attention?: Float32Array[];
  /** Chosen by re-ranking (src/infer/rerank.ts): its image–text similarity, combined score, and place among the beams (0 = beam search's own best). */
  rerank?: { similarity: number; score: number; beamRank: number };
}

/** Row n of the last step's cross-attention, if the stepper records it. */
function attentionRow(s: Stepper, n: number): Float32Array | null {
  const a = s.crossAttention();
  if (!a) return null;
  const w = a.length / s.rows;
  return a.slice(n * w, (n + 1) * w);
}

export type Adjustments = Required<Pick<SearchOptions, 'minLen' | 'repetitionPenalty' | 'eot' | 'sot' | 'sotAllowed' | 'pad' | 'banned'>>;

/** The tokens the repetition penalty applies to: those generated, and [SOT] when it may be generated. */
function penalised(history: readonly number[], o: Adjustments): Set<number> {
  return new Set(o.sotAllowed ? history : history.slice(1));
}

/** The logits of row n after the min-length mask and repetition penalty, in place. */
export function adjust(row: Float32Array, history: readonly number[], o: Adjustments): void {
  if (o.pad >= 0) row[o.pad] = -Infinity;
  if (!o.sotAllowed) row[o.sot] = -Infinity;
  for (const b of o.banned) row[b] = -Infinity;
  if (o.repetitionPenalty !== 1) {
    for (const v of penalised(history, o)) row[v] = row[v]! > 0 ? row[v]! / o.repetitionPenalty : row[v]! * o.repetitionPenalty;
  }
  if (history.length - 1 < o.minLen) row[o.eot] = -Infinity;
}

/**
 * Beam search's adjustment of row n's log-probabilities, in place (see the header): Hugging Face's
 * logits processors run after its log-softmax, so masking does not renormalise the other tokens.
 */
function adjustLogProbs(lp: Float64Array, history: readonly number[], o: Adjustments): void {
  if (o.pad >= 0) lp[o.pad] = -Infinity;
  if (!o.sotAllowed) lp[o.sot] = -Infinity;
  for (const b of o.banned) lp[b] = -Infinity;
  if (o.repetitionPenalty !== 1) {
    for (const v of penalised(history, o)) lp[v] = lp[v]! > 0 ? lp[v]! / o.repetitionPenalty : lp[v]! * o.repetitionPenalty;
  }
  if (history.length - 1 < o.minLen) lp[o.eot] = -Infinity;
}

/** Greedy's pick: the first id holding the largest value (a strict `>` scan from id 0; kernels/argmax.ts picks the same on the device). */
export function firstMax(row: Float32Array): number {
  let pick = 0;
  for (let v = 1; v < row.length; v++) if (row[v]! > row[pick]!) pick = v;
  return pick;
}

/** log-softmax in float64. */
export function logSoftmax(row: Float32Array): Float64Array {
  let m = -Infinity;
  for (const x of row) if (x > m) m = x;
  let s = 0;
  for (const x of row) s += Math.exp(x - m);
  const lse = m + Math.log(s);
  return Float64Array.from(row, (x) => x - lse);
}

/** The options with DEFAULT_SEARCH's values where they are not given. */
export function searchDefaults(o: SearchOptions) {
  const D = DEFAULT_SEARCH;
  return { minLen: o.minLen ?? D.minLen, repetitionPenalty: o.repetitionPenalty ?? D.repetitionPenalty, eot: o.eot ?? 2, sot: o.sot ?? 1, sotAllowed: o.sotAllowed ?? false, pad: o.pad ?? 0, lengthPenalty: o.lengthPenalty ?? D.lengthPenalty, prefix: o.prefix ?? [], banned: o.banned ?? [] };
}

/** Feeds [SOT] then the prefix to every row; the logits after the last of them. */
async function start(s: Stepper, o: { sot: number; prefix: readonly number[] }): Promise<Float32Array> {
  let logits = await s.step(new Int32Array(s.rows).fill(o.sot));
  for (const t of o.prefix) logits = await s.step(new Int32Array(s.rows).fill(t));
  return logits;
}

/** Greedy (argmax, ties to the lower id) or sampling, one caption per stepper row. */
export async function greedyOrSample(s: Stepper, maxLen: number, opts: SearchOptions): Promise<Caption[]> {
  const o = searchDefaults(opts);
  const N = s.rows;
  const V = s.vocab;
  const rows = Array.from({ length: N }, () => ({ tokens: [o.sot], logprobs: [] as number[], attention: [] as Float32Array[], done: false }));
  const rowSeeds = opts.sample?.rowSeeds;
  if (rowSeeds && rowSeeds.length !== N) throw new SearchError(`sampling: ${rowSeeds.length} row seeds for ${N} rows`);
  const rngs = opts.sample ? Array.from({ length: N }, (_, n) => new Rng(rowSeeds?.[n] ?? opts.sample!.seed ?? DEFAULT_SEARCH.seed)) : null;
  let logits = await start(s, o);
  maxLen -= o.prefix.length;
  for (;;) {
    const chosen = new Int32Array(N).fill(o.eot);
    rows.forEach((r, n) => {
      if (r.done) return;
      const row = logits.subarray(n * V, (n + 1) * V);
      adjust(row, r.tokens, o);
      const lp = logSoftmax(row);
      let pick = 0;
      if (rngs) pick = draw(row, opts.sample!, rngs[n]!);
      else pick = firstMax(row);
      r.tokens.push(pick);
      r.logprobs.push(lp[pick]!);
      const a = attentionRow(s, n);
      if (a) r.attention.push(a);
      chosen[n] = pick;
      if (pick === o.eot) r.done = true;
    });
    if (rows.every((r) => r.done || r.tokens.length >= maxLen)) break;
    logits = await s.step(chosen);
  }
  return rows.map((r) => ({ tokens: r.tokens, logprobs: r.logprobs, score: r.logprobs.reduce((a, b) => a + b, 0), ...(r.attention.length ? { attention: r.attention } : {}) }));
}

/**
 * The seeds of `n` captions drawn for one picture and seed: the first is the seed itself (so the
 * first of n captions is the caption asked for alone), the others are derived from it.
 */
export function sampleSeeds(seed: number, n: number): number[] {
  const derive = new Rng(seed ^ 0x5eed5eed);
  return Array.from({ length: n }, (_, k) => (k === 0 ? seed : derive.u32()));
}

/** A token drawn from softmax(row / T), restricted to the top k and to the top-p nucleus. */
function draw(row: Float32Array, o: { temperature?: number; topK?: number; topP?: number }, rng: Rng): number {
  const T = o.temperature ?? DEFAULT_SEARCH.temperature;
  const order = Array.from(row.keys()).filter((v) => row[v] !== -Infinity);
  order.sort((a, b) => row[b]! - row[a]! || a - b);
  if (T <= 0) return order[0]!;
  let keep = order.slice(0, o.topK && o.topK > 0 ? o.topK : order.length);
  const m = row[keep[0]!]!;
  let p = keep.map((v) => Math.exp((row[v]! - m) / T));
  let z = p.reduce((a, b) => a + b, 0);
  if (o.topP !== undefined && o.topP < 1) {
    // The smallest prefix whose mass reaches topP (always at least one token).
    let acc = 0;
    let n = 0;
    while (n < p.length && (n === 0 || acc < o.topP * z)) acc += p[n++]!;
    keep = keep.slice(0, n);
    p = p.slice(0, n);
    z = acc;
  }
  let u = rng.next() * z;
  for (let i = 0; i < keep.length; i++) {
    u -= p[i]!;
    if (u < 0) return keep[i]!;
  }
  return keep[keep.length - 1]!;
}

interface Beam {
  tokens: number[];
  logprobs: number[];
  attention: Float32Array[];
  sum: number;
}

const caption = (b: Beam, score: number): Caption => ({ tokens: b.tokens, logprobs: b.logprobs, score, ...(b.attention.length ? { attention: b.attention } : {}) });

/** Length-normalised score (see the header). */
export function normalisedScore(sum: number, generated: number, alpha: number): number {
  return sum / Math.pow(generated, alpha);
}

/** Beam search with K = s.beams beams per image; returns the best caption of each image. */
export async function beamSearch(s: Stepper, maxLen: number, opts: SearchOptions): Promise<Caption[]> {
  return (await beamSearchCandidates(s, maxLen, opts)).map((c) => c[0]!);
}

/**
 * Beam search's K best finished captions of each image, best first (ties in the order they
 * finished): what a re-ranker chooses among (src/infer/rerank.ts).
 */
export async function beamSearchCandidates(s: Stepper, maxLen: number, opts: SearchOptions): Promise<Caption[][]> {
  const o = searchDefaults(opts);
  const K = s.beams;
  const V = s.vocab;
  const B = s.rows / K;
  // Only beam 0 of each image starts alive, so the first step does not pick K copies of one word.
  const beams: Beam[][] = Array.from({ length: B }, () => Array.from({ length: K }, (_, k) => ({ tokens: [o.sot], logprobs: [], attention: [], sum: k === 0 ? 0 : -Infinity })));
  const finished: Caption[][] = Array.from({ length: B }, () => []);
  const done = new Array<boolean>(B).fill(false);
  let logits = await start(s, o);
  maxLen -= o.prefix.length;
  for (let cur = 1; ; cur++) {
    // cur: tokens in every running row, [SOT] included.
    const parents = Int32Array.from({ length: s.rows }, (_, n) => n);
    const chosen = new Int32Array(s.rows).fill(o.eot);
    for (let b = 0; b < B; b++) {
      if (done[b]) continue;
      const cands: { k: number; v: number; lp: number; score: number }[] = [];
      for (let k = 0; k < K; k++) {
        const beam = beams[b]![k]!;
        const row = logits.subarray((b * K + k) * V, (b * K + k + 1) * V);
        if (beam.sum === -Infinity) continue;
        const lp = logSoftmax(row);
        adjustLogProbs(lp, beam.tokens, o);
        for (const v of topIndices(lp, 2 * K)) cands.push({ k, v, lp: lp[v]!, score: beam.sum + lp[v]! });
      }
      cands.sort((x, y) => y.score - x.score || x.k - y.k || x.v - y.v);
      const next: Beam[] = [];
      for (const [rank, c] of cands.slice(0, 2 * K).entries()) {
        const parent = beams[b]![c.k]!;
        const a = attentionRow(s, b * K + c.k);
        const beam = { tokens: [...parent.tokens, c.v], logprobs: [...parent.logprobs, c.lp], attention: a ? [...parent.attention, a] : [], sum: c.score };
        if (c.v === o.eot) {
          if (rank < K) finished[b]!.push(caption(beam, normalisedScore(c.score, cur, o.lengthPenalty)));
        } else if (next.length < K) {
          parents[b * K + next.length] = b * K + c.k;
          chosen[b * K + next.length] = c.v;
          next.push(beam);
        }
      }
      while (next.length < K) next.push({ tokens: [...beams[b]![0]!.tokens, o.eot], logprobs: [], attention: [], sum: -Infinity });
      beams[b] = next;
      const fin = finished[b]!;
      if (fin.length >= K) {
        const worst = fin.map((f) => f.score).sort((x, y) => y - x)[K - 1]!;
        if (next[0]!.sum === -Infinity || normalisedScore(next[0]!.sum, cur, o.lengthPenalty) <= worst) done[b] = true;
      }
    }
    if (cur + 1 >= maxLen) {
      for (let b = 0; b < B; b++) {
        if (done[b]) continue;
        for (const beam of beams[b]!) if (beam.sum > -Infinity) finished[b]!.push(caption(beam, normalisedScore(beam.sum, cur, o.lengthPenalty)));
      }
      break;
    }
    if (done.every(Boolean)) break;
    s.reorder(parents);
    logits = await s.step(chosen);
  }
  // A stable sort: of equal scores the first finished leads, as the single best always did.
  return finished.map((f) => [...f].sort((x, y) => y.score - x.score).slice(0, K));
}

/** The indices of the n largest values, largest first, ties to the lower index. */
function topIndices(x: Float64Array, n: number): number[] {
  const out: number[] = [];
  for (let v = 0; v < x.length; v++) {
    if (x[v] === -Infinity) continue;
    if (out.length < n) out.push(v);
    else if (x[v]! > x[out[out.length - 1]!]!) out[out.length - 1] = v;
    else continue;
    for (let i = out.length - 1; i > 0 && x[out[i]!]! > x[out[i - 1]!]!; i--) [out[i], out[i - 1]] = [out[i - 1]!, out[i]!];
  }
  return out;
}
