// beamSearchCandidates (what re-ranking chooses among) against a beam search written here from the
// header of src/infer/search.ts, returning every picture's K best finished captions, best first,
// ties in the order they finished: few beams, vocabularies too small to fill them, the minimum
// length, the repetition penalty, sotAllowed, and a forced prefix (a language token) with banned
// tokens, whose positions count towards maxLen but not towards the length penalty.
import { describe, expect, it } from 'vitest';
import { beamSearch, beamSearchCandidates, type Caption, type SearchOptions } from '../../../src/infer/search.ts';
import type { Stepper } from '../../../src/infer/stepper.ts';
import { Rng } from '../../../src/util/prng.ts';

const PAD = 0;
const SOT = 1;
const EOT = 2;

/** Next-token logits for picture `image` after the fed tokens `fed` ([SOT], the prefix, the generated tokens). */
type LogitFn = (image: number, fed: readonly number[]) => Float32Array;

function hashedLogits(V: number, spread: number, salt: number): LogitFn {
  return (image, fed) => {
    let h = (0x811c9dc5 ^ (image * 0x2545f491) ^ (salt * 0x9e3779b9)) >>> 0;
    for (const t of fed) h = Math.imul(h ^ (t + 1), 16777619) >>> 0;
    return new Rng(h).floats(V, -spread, spread);
  };
}

class FakeStepper implements Stepper {
  readonly rows: number;
  fed: number[][];
  constructor(
    private readonly images: readonly number[],
    readonly beams: number,
    readonly vocab: number,
    private readonly logits: LogitFn,
  ) {
    this.rows = images.length * beams;
    this.fed = Array.from({ length: this.rows }, () => []);
  }
  get length(): number {
    return this.fed[0]!.length;
  }
  async step(tokens: Int32Array): Promise<Float32Array> {
    const out = new Float32Array(this.rows * this.vocab);
    this.fed.forEach((p, n) => {
      p.push(tokens[n]!);
      out.set(this.logits(this.images[Math.floor(n / this.beams)]!, p), n * this.vocab);
    });
    return out;
  }
  reorder(parents: Int32Array): void {
    this.fed = Array.from(parents, (p) => [...this.fed[p]!]);
  }
  crossAttention(): null {
    return null;
  }
  release(): void {}
}

interface Options {
  K: number;
  maxLen: number;
  alpha: number;
  minLen?: number;
  theta?: number;
  sotAllowed?: boolean;
  prefix?: number[];
  banned?: number[];
}

interface Want {
  tokens: number[];
  logprobs: number[];
  score: number;
}

/**
 * The header's beam search for one picture, every finished caption kept: log-softmax of the
 * model's logits in float64; then, without renormalising, [PAD], [SOT] (unless allowed), banned
 * tokens, and [EOT] before minLen generated tokens at −∞, and each token already in the caption
 * ([SOT] too when allowed; never the prefix) multiplied by θ. Candidates: every live beam × every
 * token, best first (ties: lower beam, then lower id); of the best 2K, an [EOT] among the first K
 * finishes a caption (score Σ/len^α, len = generated tokens with [EOT]), the others (K at most)
 * continue. Done when K are finished and the best continuing beam, normalised, is no better than
 * the K-th best finished; at maxLen positions (prefix included) the continuing beams finish as
 * they are. The K best finished, best first, ties in the order they finished.
 */
function reference(fn: LogitFn, image: number, V: number, o: Options): Want[] {
  const prefix = o.prefix ?? [];
  const minLen = o.minLen ?? 0;
  const theta = o.theta ?? 1;
  const norm = (sum: number, len: number) => sum / len ** o.alpha;
  type B = { tokens: number[]; logprobs: number[]; sum: number };
  let running: B[] = [{ tokens: [SOT], logprobs: [], sum: 0 }];
  const finished: Want[] = [];
  for (;;) {
    const cands: B[] = [];
    for (const b of running) {
      const z = Array.from(fn(image, [SOT, ...prefix, ...b.tokens.slice(1)]));
      const m = Math.max(...z);
      const lse = m + Math.log(z.reduce((a, x) => a + Math.exp(x - m), 0));
      const lp = z.map((x) => x - lse);
      const penalised = o.sotAllowed ? b.tokens : b.tokens.slice(1);
      for (let v = 0; v < V; v++) if (penalised.includes(v)) lp[v] = lp[v]! * theta;
      lp[PAD] = -Infinity;
      if (!o.sotAllowed) lp[SOT] = -Infinity;
      for (const t of o.banned ?? []) lp[t] = -Infinity;
      if (b.tokens.length - 1 < minLen) lp[EOT] = -Infinity;
      for (let v = 0; v < V; v++) if (lp[v]! > -Infinity) cands.push({ tokens: [...b.tokens, v], logprobs: [...b.logprobs, lp[v]!], sum: b.sum + lp[v]! });
    }
    cands.sort((x, y) => y.sum - x.sum);
    const next: B[] = [];
    cands.slice(0, 2 * o.K).forEach((c, rank) => {
      if (c.tokens[c.tokens.length - 1] === EOT) {
        if (rank < o.K) finished.push({ tokens: c.tokens, logprobs: c.logprobs, score: norm(c.sum, c.tokens.length - 1) });
      } else if (next.length < o.K) next.push(c);
    });
    running = next;
    if (finished.length >= o.K) {
      const kth = finished.map((f) => f.score).sort((x, y) => y - x)[o.K - 1]!;
      if (running.length === 0 || norm(running[0]!.sum, running[0]!.tokens.length - 1) <= kth) break;
    }
    if (running.length === 0) break;
    if (running[0]!.tokens.length + prefix.length >= o.maxLen) {
      for (const b of running) finished.push({ tokens: b.tokens, logprobs: b.logprobs, score: norm(b.sum, b.tokens.length - 1) });
      break;
    }
  }
  return finished
    .map((f, i) => ({ f, i }))
    .sort((x, y) => y.f.score - x.f.score || x.i - y.i)
    .slice(0, o.K)
    .map((x) => x.f);
}

function expectSame(got: Caption[], want: Want[], what: string): void {
  expect(got.map((c) => c.tokens), what).toEqual(want.map((w) => w.tokens));
  got.forEach((c, j) => {
    expect(c.logprobs.length, `${what}, candidate ${j}`).toBe(want[j]!.logprobs.length);
    c.logprobs.forEach((lp, t) => expect(lp, `${what}, candidate ${j}, log-prob ${t}`).toBeCloseTo(want[j]!.logprobs[t]!, 9));
    expect(c.score, `${what}, candidate ${j}`).toBeCloseTo(want[j]!.score, 9);
  });
}

async function check(V: number, o: Options, salt: number, spread = 3, images = [0, 1, 2]): Promise<Caption[][]> {
  const fn = hashedLogits(V, spread, salt);
  const opts: SearchOptions = { maxLen: o.maxLen, lengthPenalty: o.alpha, minLen: o.minLen ?? 0, repetitionPenalty: o.theta ?? 1, sotAllowed: o.sotAllowed ?? false, prefix: o.prefix ?? [], banned: o.banned ?? [] };
  const s = new FakeStepper(images, o.K, V, fn);
  const got = await beamSearchCandidates(s, o.maxLen, opts);
  expect(got).toHaveLength(images.length);
  for (const [i, image] of images.entries()) expectSame(got[i]!, reference(fn, image, V, o), `salt ${salt}, V ${V}, ${JSON.stringify(o)}, picture ${image}`);
  // beamSearch hands back the first of them.
  const best = await beamSearch(new FakeStepper(images, o.K, V, fn), o.maxLen, opts);
  expect(best.map((c) => c.tokens)).toEqual(got.map((c) => c[0]!.tokens));
  return got;
}

describe('beamSearchCandidates against the reference: the K best finished captions of each picture', () => {
  it('few beams, several α, with the minimum length and the repetition penalty', async () => {
    let several = 0;
    for (let salt = 1; salt <= 24; salt++) {
      const K = 1 + (salt % 4);
      const o: Options = { K, maxLen: 5 + (salt % 3), alpha: [0, 0.5, 1, 2][salt % 4]!, minLen: salt % 3, theta: [1, 1.5, 0.7][salt % 3]! };
      const got = await check(9, o, salt);
      several += got.filter((c) => c.length > 1).length;
    }
    expect(several).toBeGreaterThan(10); // not vacuous: most pictures have more than one candidate
  });

  it('vocabularies too small to fill the beams: no dead beam becomes a candidate', async () => {
    for (const [V, K, salt] of [[4, 3, 31], [4, 4, 32], [5, 4, 33], [4, 2, 34], [5, 3, 35], [4, 3, 36]] as const) {
      for (const alpha of [0, 1]) {
        const got = await check(V, { K, maxLen: 5, alpha }, salt);
        for (const c of got.flat()) expect(c.score, `V ${V}, K ${K}`).toBeGreaterThan(-Infinity);
      }
    }
    // Only [EOT] may follow [SOT] (a vocabulary of the specials alone, or every word banned): one
    // caption finishes, the other beams never lived, so one candidate and not K.
    for (const [V, banned] of [[3, []], [5, [3, 4]]] as const) {
      for (const K of [2, 3]) {
        const got = await check(V, { K, maxLen: 5, alpha: 1, banned: [...banned] }, 37 + K);
        for (const c of got) expect(c.map((x) => x.tokens)).toEqual([[SOT, EOT]]);
      }
    }
    // One word, [EOT] held back for a token, three or four beams, maxLen 3: [SOT] w [EOT] and
    // [SOT] w w are the only captions; a forbidden [EOT] (−∞) never becomes another.
    for (const [salt, K] of [[71, 3], [72, 4]] as const) {
      const got = await check(4, { K, maxLen: 3, alpha: 1, minLen: 1 }, salt);
      for (const c of got) expect(c.map((x) => x.tokens).sort()).toEqual([[SOT, 3, EOT], [SOT, 3, 3]]);
    }
  });

  it('sotAllowed: [SOT] may be generated and is penalised from the start', async () => {
    for (let salt = 41; salt <= 46; salt++) await check(6, { K: 2 + (salt % 2), maxLen: 6, alpha: 1, theta: salt % 2 ? 1.6 : 1, sotAllowed: true }, salt);
  });

  it('a forced prefix counts towards maxLen, not towards the length penalty; banned tokens are never generated', async () => {
    const V = 10;
    let cut = 0;
    for (let salt = 51; salt <= 62; salt++) {
      const K = 1 + (salt % 3);
      const o: Options = { K, maxLen: 4 + (salt % 3), alpha: salt % 2 ? 1 : 0.5, minLen: salt % 2, theta: salt % 3 ? 1 : 1.4, prefix: salt % 4 ? [8] : [8, 9], banned: [8, 9] };
      const got = await check(V, o, salt, 2.5);
      for (const c of got.flat()) {
        expect(c.tokens.some((t) => t === 8 || t === 9)).toBe(false);
        expect(c.tokens.length + o.prefix!.length).toBeLessThanOrEqual(o.maxLen);
        if (c.tokens.length + o.prefix!.length === o.maxLen && c.tokens.at(-1) !== EOT) cut++;
      }
    }
    expect(cut).toBeGreaterThan(0); // some captions are cut by maxLen, where the prefix's positions count
  });
});
