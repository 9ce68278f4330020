// The caption searches of src/infer/search.ts against references written here from the rules its
// header states, on a made-up language model (no GPU): beam search with few beams (where it is not
// an exhaustive search), the minimum length, the repetition penalty, the attention rows handed
// back, greedy's ties, and log-softmax. The mutation run (docs/mutation.md) found these untested
// below the GPU tests.
import { describe, expect, it } from 'vitest';
import { beamSearch, checkSearch, greedyOrSample, logSoftmax, normalisedScore, SearchError, type Caption, type SearchRequest } from '../../../src/infer/search.ts';
import { CocaError } from '../../../src/util/errors.ts';
import type { Stepper } from '../../../src/infer/stepper.ts';
import { Rng } from '../../../src/util/prng.ts';

const PAD = 0;
const SOT = 1;
const EOT = 2;

type LogitFn = (image: number, prefix: readonly number[]) => Float32Array;

/** V logits uniform in ±spread, a pseudo-random function of (picture, prefix). */
function hashedLogits(V: number, spread: number, salt = 0): LogitFn {
  return (image, prefix) => {
    let h = (2166136261 ^ image ^ (salt * 0x9e3779b9)) >>> 0;
    for (const t of prefix) h = Math.imul(h ^ t, 16777619) >>> 0;
    return new Rng(h).floats(V, -spread, spread);
  };
}

/** What the fake stepper reports as row n's cross-attention: W numbers naming its picture and prefix. */
const W = 3;
const attentionOf = (image: number, prefix: readonly number[]) => Float32Array.of(image, prefix.length, prefix[prefix.length - 1]!);

class FakeStepper implements Stepper {
  readonly rows: number;
  private prefix: number[][];
  private last: Float32Array | null = null;

  constructor(
    private readonly images: readonly number[],
    readonly beams: number,
    readonly vocab: number,
    private readonly logits: LogitFn,
    private readonly recordAttention = false,
  ) {
    this.rows = images.length * beams;
    this.prefix = Array.from({ length: this.rows }, () => []);
  }

  get length(): number {
    return this.prefix[0]!.length;
  }

  async step(tokens: Int32Array): Promise<Float32Array> {
    const out = new Float32Array(this.rows * this.vocab);
    const att = new Float32Array(this.rows * W);
    this.prefix.forEach((p, n) => {
      p.push(tokens[n]!);
      const image = this.images[Math.floor(n / this.beams)]!;
      out.set(this.logits(image, p), n * this.vocab);
      att.set(attentionOf(image, p), n * W);
    });
    this.last = att;
    return out;
  }

  reorder(parents: Int32Array): void {
    this.prefix = Array.from(parents, (p) => [...this.prefix[p]!]);
  }

  crossAttention(): Float32Array | null {
    return this.recordAttention ? this.last : null;
  }

  release(): void {}
}

/**
 * The logits the search must see after `prefix`: [PAD] and [SOT] never, [EOT] not before minLen
 * generated tokens, and every token already generated (not [SOT]) divided by θ when positive,
 * multiplied by θ when not. Then log-softmax, in float64 from the float32 logits.
 */
function adjustedLogProbs(fn: LogitFn, image: number, prefix: readonly number[], minLen: number, theta: number): number[] {
  const z = Array.from(fn(image, prefix));
  const generated = prefix.slice(1);
  for (let v = 0; v < z.length; v++) {
    if (generated.includes(v)) z[v] = Math.fround(z[v]! > 0 ? z[v]! / theta : z[v]! * theta);
  }
  z[PAD] = -Infinity;
  z[SOT] = -Infinity;
  if (generated.length < minLen) z[EOT] = -Infinity;
  const finite = z.filter((x) => x > -Infinity);
  const m = Math.max(...finite);
  const lse = m + Math.log(finite.reduce((a, x) => a + Math.exp(x - m), 0));
  return z.map((x) => x - lse);
}

/**
 * The log-probs beam search must use after `prefix`, as Hugging Face's beam search (open_clip's
 * generate) computes them: log-softmax of the model's logits in float64, then, without
 * renormalising, [PAD] and [SOT] (unless sotAllowed) and [EOT] before minLen generated tokens set
 * to −∞, and every token already generated (with sotAllowed, [SOT] too) multiplied by θ (a
 * log-prob is never positive).
 */
function beamLogProbs(fn: LogitFn, image: number, prefix: readonly number[], minLen: number, theta: number, sotAllowed = false): number[] {
  const z = Array.from(fn(image, prefix));
  const m = Math.max(...z);
  const lse = m + Math.log(z.reduce((a, x) => a + Math.exp(x - m), 0));
  const lp = z.map((x) => x - lse);
  const generated = prefix.slice(1);
  const penalised = sotAllowed ? prefix : generated;
  for (let v = 0; v < lp.length; v++) if (penalised.includes(v)) lp[v] = lp[v]! * theta;
  lp[PAD] = -Infinity;
  if (!sotAllowed) lp[SOT] = -Infinity;
  if (generated.length < minLen) lp[EOT] = -Infinity;
  return lp;
}

/**
 * Beam search as the header of search.ts states it (Hugging Face's), one picture at a time: every
 * running beam extended by every token, the best 2K continuations kept in order; an [EOT] among the
 * best K finishes a caption (score Σ log-probs / len^α, len counting [EOT], not [SOT]), the other
 * continuations refill the K beams; done once K captions are finished and the best running beam,
 * normalised at its length, is no better than the K-th best of them; at maxLen the running beams
 * finish as they are. The best finished caption wins (the first found, on a tie).
 * `variant` is a rule coca followed before it matched open_clip, to show the tests tell them apart:
 * 'renormalise' masks the logits before the log-softmax (and penalises the logits), 'worstOfAll'
 * compares with the worst of all finished captions.
 */
function referenceBeam(
  fn: LogitFn,
  image: number,
  V: number,
  K: number,
  o: { maxLen: number; alpha: number; minLen: number; theta: number; sotAllowed?: boolean; variant?: 'renormalise' | 'worstOfAll' },
): { tokens: number[]; logprobs: number[]; score: number } {
  type B = { tokens: number[]; logprobs: number[]; sum: number };
  let running: B[] = [{ tokens: [SOT], logprobs: [], sum: 0 }];
  const finished: { tokens: number[]; logprobs: number[]; score: number }[] = [];
  const norm = (sum: number, len: number) => sum / len ** o.alpha;
  for (;;) {
    const cands: B[] = [];
    for (const b of running) {
      const lp = o.variant === 'renormalise' ? adjustedLogProbs(fn, image, b.tokens, o.minLen, o.theta) : beamLogProbs(fn, image, b.tokens, o.minLen, o.theta, o.sotAllowed);
      for (let v = 0; v < V; v++) if (lp[v]! > -Infinity) cands.push({ tokens: [...b.tokens, v], logprobs: [...b.logprobs, lp[v]!], sum: b.sum + lp[v]! });
    }
    cands.sort((x, y) => y.sum - x.sum);
    const next: B[] = [];
    cands.slice(0, 2 * K).forEach((c, rank) => {
      const generated = c.tokens.length - 1;
      if (c.tokens[generated] === EOT) {
        if (rank < K) finished.push({ tokens: c.tokens, logprobs: c.logprobs, score: norm(c.sum, generated) });
      } else if (next.length < K) next.push(c);
    });
    running = next;
    const len = running[0]?.tokens.length ?? 0;
    if (finished.length >= K) {
      const scores = finished.map((f) => f.score).sort((x, y) => y - x);
      const worst = o.variant === 'worstOfAll' ? scores[scores.length - 1]! : scores[K - 1]!;
      if (running.length === 0 || norm(running[0]!.sum, len - 1) <= worst) break;
    }
    if (len >= o.maxLen || running.length === 0) {
      for (const b of running) finished.push({ tokens: b.tokens, logprobs: b.logprobs, score: norm(b.sum, b.tokens.length - 1) });
      break;
    }
  }
  let best = finished[0]!;
  for (const f of finished) if (f.score > best.score) best = f;
  return best;
}

const expectCaption = (got: Caption, want: { tokens: number[]; logprobs: number[]; score: number }, what: string) => {
  expect(got.tokens, what).toEqual(want.tokens);
  expect(got.logprobs.length, what).toBe(want.logprobs.length);
  got.logprobs.forEach((lp, i) => expect(lp, `${what}, log-prob ${i}`).toBeCloseTo(want.logprobs[i]!, 9));
  expect(got.score, what).toBeCloseTo(want.score, 9);
};

describe('beam search with few beams, against the reference written from its rules', () => {
  const V = 7;
  const images = [0, 1, 2, 3];

  it('K = 1, 2, 3 beams; α = 0, 0.5, 1, 2; several pictures in one batch', async () => {
    let differsFromGreedy = 0;
    for (const [salt, K, alpha, maxLen] of [[1, 1, 1, 6], [2, 2, 0, 6], [3, 2, 1, 7], [4, 3, 0.5, 6], [5, 3, 2, 7], [6, 2, 1, 3], [7, 3, 1, 2]] as const) {
      const fn = hashedLogits(V, 3, salt);
      const caps = await beamSearch(new FakeStepper(images, K, V, fn), maxLen, { maxLen, lengthPenalty: alpha });
      for (const i of images) {
        const ref = referenceBeam(fn, i, V, K, { maxLen, alpha, minLen: 0, theta: 1 });
        expectCaption(caps[i]!, ref, `salt ${salt}, K ${K}, α ${alpha}, picture ${i}`);
        const greedy = referenceBeam(fn, i, V, 1, { maxLen, alpha: 0, minLen: 0, theta: 1 });
        if (greedy.tokens.join() !== ref.tokens.join()) differsFromGreedy++;
      }
    }
    // Not vacuous: beams change the caption of some pictures.
    expect(differsFromGreedy).toBeGreaterThan(2);
  });

  it('with a minimum length and a repetition penalty', async () => {
    for (const [salt, K, minLen, theta] of [[11, 2, 2, 1.5], [12, 3, 3, 0.7], [13, 2, 1, 3]] as const) {
      const maxLen = 7;
      const fn = hashedLogits(V, 3, salt);
      const caps = await beamSearch(new FakeStepper(images, K, V, fn), maxLen, { maxLen, lengthPenalty: 1, minLen, repetitionPenalty: theta });
      for (const i of images) {
        expectCaption(caps[i]!, referenceBeam(fn, i, V, K, { maxLen, alpha: 1, minLen, theta }), `salt ${salt}, K ${K}, min ${minLen}, θ ${theta}, picture ${i}`);
        expect(caps[i]!.tokens.indexOf(EOT) === -1 || caps[i]!.tokens.indexOf(EOT) > minLen).toBe(true);
      }
    }
  });

  it("Hugging Face's rules where coca's earlier ones differ: adjusting log-probs after the log-softmax, stopping against the K-th best finished caption", async () => {
    let renormalised = 0;
    let worstOfAll = 0;
    for (let salt = 100; salt < 180; salt++) {
      const K = 2 + (salt % 2);
      const minLen = salt % 3;
      const theta = [1, 1.5, 0.7, 2][salt % 4]!;
      const maxLen = 8;
      const fn = hashedLogits(V, 3, salt);
      const caps = await beamSearch(new FakeStepper(images, K, V, fn), maxLen, { maxLen, lengthPenalty: 1, minLen, repetitionPenalty: theta });
      for (const i of images) {
        const o = { maxLen, alpha: 1, minLen, theta };
        const want = referenceBeam(fn, i, V, K, o);
        expectCaption(caps[i]!, want, `salt ${salt}, K ${K}, min ${minLen}, θ ${theta}, picture ${i}`);
        if (referenceBeam(fn, i, V, K, { ...o, variant: 'renormalise' }).tokens.join() !== want.tokens.join()) renormalised++;
        if (referenceBeam(fn, i, V, K, { ...o, variant: 'worstOfAll' }).tokens.join() !== want.tokens.join()) worstOfAll++;
      }
    }
    // Not vacuous: each earlier rule gives another caption for some of these pictures.
    expect(renormalised).toBeGreaterThan(0);
    expect(worstOfAll).toBeGreaterThan(0);
  });

  it('sotAllowed: [SOT] may be chosen, and the repetition penalty counts the leading one', async () => {
    let withSot = 0;
    for (const [salt, K, theta] of [[61, 2, 1], [62, 3, 1.5], [63, 2, 0.8], [64, 3, 1]] as const) {
      const fn = hashedLogits(V, 3, salt);
      const caps = await beamSearch(new FakeStepper(images, K, V, fn), 7, { maxLen: 7, lengthPenalty: 1, repetitionPenalty: theta, sotAllowed: true });
      for (const i of images) {
        expectCaption(caps[i]!, referenceBeam(fn, i, V, K, { maxLen: 7, alpha: 1, minLen: 0, theta, sotAllowed: true }), `salt ${salt}, picture ${i}`);
        if (caps[i]!.tokens.lastIndexOf(SOT) > 0) withSot++;
      }
    }
    expect(withSot).toBeGreaterThan(0);
  });

  it('more beams than the vocabulary can fill, and a flat model where every continuation ties (ties to the lower beam, then the lower id)', async () => {
    for (const [V2, K, salt] of [[4, 3, 51], [5, 3, 52], [4, 2, 53], [6, 4, 54]] as const) {
      const fn = hashedLogits(V2, 2, salt);
      for (const alpha of [0, 1]) {
        const caps = await beamSearch(new FakeStepper(images, K, V2, fn), 6, { maxLen: 6, lengthPenalty: alpha });
        for (const i of images) expectCaption(caps[i]!, referenceBeam(fn, i, V2, K, { maxLen: 6, alpha, minLen: 0, theta: 1 }), `V ${V2}, K ${K}, α ${alpha}, picture ${i}`);
      }
    }
    // Every token equally likely at every step, [EOT] a little less: a tie among all continuations.
    const flat: LogitFn = () => Float32Array.of(0, 0, -0.5, 0, 0, 0, 0);
    for (const [K, alpha] of [[2, 1], [3, 0.5], [3, 2]] as const) {
      const caps = await beamSearch(new FakeStepper([0, 1], K, V, flat), 6, { maxLen: 6, lengthPenalty: alpha });
      for (const i of [0, 1]) expectCaption(caps[i]!, referenceBeam(flat, i, V, K, { maxLen: 6, alpha, minLen: 0, theta: 1 }), `flat, K ${K}, α ${alpha}`);
    }
  });

  it('hands back, per generated token, the attention row of the beam that generated it', async () => {
    const fn = hashedLogits(V, 3, 21);
    const caps = await beamSearch(new FakeStepper(images, 3, V, fn, true), 6, { maxLen: 6 });
    for (const [i, c] of caps.entries()) {
      // The row recorded with token t was computed from the prefix before t.
      expect(c.attention!.map((a) => Array.from(a))).toEqual(c.tokens.slice(1).map((_, t) => Array.from(attentionOf(i, c.tokens.slice(0, t + 1)))));
    }
    expect((await beamSearch(new FakeStepper(images, 3, V, fn), 6, { maxLen: 6 }))[0]!.attention).toBeUndefined();
    // A winner that runs through the second beam: the likeliest first word (3) leads nowhere.
    const trap: LogitFn = (_, prefix) => {
      const z = new Float32Array(V).fill(0);
      if (prefix.length === 1) z.set([0, 0, -5, 1, 0.5, -5, -5]);
      else if (prefix[1] === 4) z[EOT] = 10;
      return z;
    };
    const caps2 = await beamSearch(new FakeStepper([5, 6], 2, V, trap, true), 5, { maxLen: 5, lengthPenalty: 0 });
    for (const [i, c] of caps2.entries()) {
      expect(c.tokens).toEqual([SOT, 4, EOT]);
      expect(c.attention!.map((a) => Array.from(a))).toEqual([Array.from(attentionOf(5 + i, [SOT])), Array.from(attentionOf(5 + i, [SOT, 4]))]);
    }
  });

  it('a caption that ends at once beats the longer ones once K captions are finished', async () => {
    // [EOT] near certain after [SOT]; every longer caption starts with a word of log-prob ≈ −5.
    const fn: LogitFn = (_, prefix) => {
      const z = new Float32Array(V).fill(-20);
      z[EOT] = prefix.length === 1 ? 5 : 0;
      z[3] = prefix.length === 1 ? 0 : 5;
      return z;
    };
    const [c] = await beamSearch(new FakeStepper([0], 2, V, fn), 6, { maxLen: 6, lengthPenalty: 0 });
    expectCaption(c!, referenceBeam(fn, 0, V, 2, { maxLen: 6, alpha: 0, minLen: 0, theta: 1 }), 'EOT first');
    expect(c!.tokens).toEqual([SOT, EOT]);
  });
});

describe('greedy decoding', () => {
  const V = 6;

  it('the likeliest allowed token at each step, the lower id on a tie, with the adjusted log-probs', async () => {
    // After [SOT]: tokens 3 and 4 tie at the top; after that [EOT] leads.
    const fn: LogitFn = (_, prefix) => (prefix.length === 1 ? Float32Array.of(9, 9, 0, 2, 2, 1) : Float32Array.of(9, 9, 3, 1, 0, 0));
    const [c] = await greedyOrSample(new FakeStepper([0], 1, V, fn), 10, { maxLen: 10 });
    expect(c!.tokens).toEqual([SOT, 3, EOT]);
    // [PAD] and [SOT] (logit 9) are never candidates: the softmax is over 0, 2, 2, 1 then 3, 1, 0, 0.
    expect(c!.logprobs[0]).toBeCloseTo(2 - Math.log(1 + 2 * Math.exp(2) + Math.exp(1)), 9);
    expect(c!.logprobs[1]).toBeCloseTo(3 - Math.log(Math.exp(3) + Math.exp(1) + 2), 9);
    expect(c!.score).toBeCloseTo(c!.logprobs[0]! + c!.logprobs[1]!, 12);
  });

  it('stops at maxLen without an [EOT], each row at its own [EOT]', async () => {
    // Picture 0 never wants [EOT]; picture 1 ends after two words.
    const fn: LogitFn = (image, prefix) => {
      const z = new Float32Array(V).fill(0);
      z[image === 1 && prefix.length === 3 ? EOT : 3 + (prefix.length % 3)] = 5;
      return z;
    };
    const caps = await greedyOrSample(new FakeStepper([0, 1], 1, V, fn), 5, { maxLen: 5 });
    expect(caps[0]!.tokens).toEqual([SOT, 4, 5, 3, 4]);
    expect(caps[1]!.tokens).toEqual([SOT, 4, 5, EOT]);
    expect(caps.map((c) => c.logprobs.length)).toEqual([4, 3]);
  });

  it('minimum length and repetition penalty against the reference adjustment', async () => {
    for (const [salt, minLen, theta] of [[31, 3, 2], [32, 2, 0.5], [33, 0, 4]] as const) {
      const fn = hashedLogits(V, 3, salt);
      const caps = await greedyOrSample(new FakeStepper([0, 1, 2], 1, V, fn), 8, { maxLen: 8, minLen, repetitionPenalty: theta });
      caps.forEach((c, i) => {
        const tokens = [SOT];
        const logprobs: number[] = [];
        while (tokens.length < 8 && tokens[tokens.length - 1] !== EOT) {
          const lp = adjustedLogProbs(fn, i, tokens, minLen, theta);
          const best = lp.indexOf(Math.max(...lp));
          tokens.push(best);
          logprobs.push(lp[best]!);
        }
        expectCaption(c, { tokens, logprobs, score: logprobs.reduce((a, b) => a + b, 0) }, `salt ${salt}, picture ${i}`);
      });
    }
  });

  it('a repetition penalty below 1 favours what was said; a negative logit is multiplied', async () => {
    // Token 3 leads after [SOT]; then token 4 (3) leads, but 3's logit divided by θ = 0.5 (2 → 4) beats it.
    const fn: LogitFn = (_, prefix) => (prefix.length === 1 ? Float32Array.of(0, 0, -9, 2, 1, -1) : Float32Array.of(0, 0, -9, 2, 3, -1));
    const [c] = await greedyOrSample(new FakeStepper([0], 1, V, fn), 3, { maxLen: 3, repetitionPenalty: 0.5 });
    expect(c!.tokens).toEqual([SOT, 3, 3]);
    expect(c!.logprobs[1]).toBeCloseTo(4 - Math.log(Math.exp(-9) + Math.exp(4) + Math.exp(3) + Math.exp(-1)), 9);
    // θ = 2: 3's logit 2 → 1, and 4 (3) wins; a negative logit −1 of a said token becomes −2.
    const neg: LogitFn = (_, prefix) => (prefix.length === 1 ? Float32Array.of(0, 0, -9, -1, -3, -3) : Float32Array.of(0, 0, -9, -1, -1.5, -3));
    const [d] = await greedyOrSample(new FakeStepper([0], 1, V, neg), 3, { maxLen: 3, repetitionPenalty: 2 });
    expect(d!.tokens).toEqual([SOT, 3, 4]);
    expect(d!.logprobs[1]).toBeCloseTo(-1.5 - Math.log(Math.exp(-9) + Math.exp(-2) + Math.exp(-1.5) + Math.exp(-3)), 9);
  });

  it('hands back the attention row of each generated token, none when not recording', async () => {
    const fn = hashedLogits(V, 3, 41);
    const caps = await greedyOrSample(new FakeStepper([0, 1], 1, V, fn, true), 6, { maxLen: 6 });
    for (const [i, c] of caps.entries()) {
      expect(c.attention!.map((a) => Array.from(a))).toEqual(c.tokens.slice(1).map((_, t) => Array.from(attentionOf(i, c.tokens.slice(0, t + 1)))));
    }
    expect((await greedyOrSample(new FakeStepper([0], 1, V, fn), 6, { maxLen: 6 }))[0]!.attention).toBeUndefined();
  });

  it('sotAllowed: greedy may choose [SOT], whose logit the repetition penalty divides from the start', async () => {
    // After [SOT], [SOT] (2) leads 3 (1.5); θ = 2 halves the leading [SOT]'s logit to 1, and 3 wins;
    // then 3 is halved too (0.75), and [SOT] (1) leads again.
    const fn: LogitFn = () => Float32Array.of(0, 2, -9, 1.5, 0, 0);
    const [free] = await greedyOrSample(new FakeStepper([0], 1, V, fn), 3, { maxLen: 3, sotAllowed: true });
    expect(free!.tokens).toEqual([SOT, SOT, SOT]);
    const [penalised] = await greedyOrSample(new FakeStepper([0], 1, V, fn), 3, { maxLen: 3, sotAllowed: true, repetitionPenalty: 2 });
    expect(penalised!.tokens).toEqual([SOT, 3, SOT]);
    const [banned] = await greedyOrSample(new FakeStepper([0], 1, V, fn), 3, { maxLen: 3 });
    expect(banned!.tokens).toEqual([SOT, 3, 3]);
  });

  it('the special ids can be moved: never generate [PAD] or [SOT], stop at [EOT], wherever they are', async () => {
    // pad 5, sot 4, eot 3: logits favour 5, then 4, then 3 after one word.
    const fn: LogitFn = (_, prefix) => (prefix.length === 1 ? Float32Array.of(1, 0, 0, 0, 8, 9) : Float32Array.of(0, 0, 0, 7, 8, 9));
    const [c] = await greedyOrSample(new FakeStepper([0], 1, V, fn), 6, { maxLen: 6, pad: 5, sot: 4, eot: 3 });
    expect(c!.tokens).toEqual([4, 0, 3]);
  });
});

describe('sampling: ties, temperature 0, shifted logits, a pad id that is a real token', () => {
  const V = 6;
  const drawn = async (fn: LogitFn, sample: NonNullable<import('../../../src/infer/search.ts').SearchOptions['sample']>, extra: { pad?: number } = {}) => {
    const rows = 400;
    const caps = await greedyOrSample(new FakeStepper(Array.from({ length: rows }, () => 0), 1, V, fn), 2, { maxLen: 2, ...extra, sample: { ...sample, rowSeeds: Array.from({ length: rows }, (_, n) => 77 + n) } });
    const count = new Array<number>(V).fill(0);
    for (const c of caps) count[c.tokens[1]!]!++;
    return count;
  };

  it('equal logits: top-k 1 and a top-p that the first alone reaches keep the lower id; top-p just above keeps both', async () => {
    const tie: LogitFn = () => Float32Array.of(0, 0, -30, 1, 1, -30);
    expect(await drawn(tie, { topK: 1 })).toEqual([0, 0, 0, 400, 0, 0]);
    // Two tokens of mass 0.5 each (the rest ≈ e^−31): the first alone reaches p = 0.4.
    expect(await drawn(tie, { topP: 0.4 })).toEqual([0, 0, 0, 400, 0, 0]);
    const both = await drawn(tie, { topP: 0.6 });
    expect(both[3]! + both[4]!).toBe(400);
    expect(Math.min(both[3]!, both[4]!)).toBeGreaterThan(150); // binomial(400, ½): sd 10
    // Exactly at the boundary: masses 1, 1 (of 2), p = 0.5 — the first token's mass reaches it.
    const exact: LogitFn = () => Float32Array.of(0, 0, -Infinity, 0, 0, -Infinity);
    expect(await drawn(exact, { topP: 0.5 })).toEqual([0, 0, 0, 400, 0, 0]);
  });

  it('temperature 0 draws the likeliest token (the lower id on a tie)', async () => {
    expect(await drawn(() => Float32Array.of(0, 0, 1, 3, 3, 2), { temperature: 0 })).toEqual([0, 0, 0, 400, 0, 0]);
  });

  it('adding a constant to every logit changes nothing, even a large one', async () => {
    const base = [0, 0, Math.log(0.1), Math.log(0.5), Math.log(0.3), Math.log(0.1)];
    const counts = await drawn(() => Float32Array.from(base), {});
    expect(await drawn(() => Float32Array.from(base, (x) => x + 1000), {})).toEqual(counts);
    expect(counts[3]).toBeGreaterThan(150);
  });

  it('pad −1: no id is forbidden as padding (CLIP pads with 0, a real token)', async () => {
    const zeroLikely: LogitFn = () => Float32Array.of(5, -9, -9, -9, -9, -9);
    expect((await drawn(zeroLikely, { topK: 1 }, { pad: -1 }))[0]).toBe(400);
    const [g] = await greedyOrSample(new FakeStepper([0], 1, V, zeroLikely), 3, { maxLen: 3, pad: -1 });
    expect(g!.tokens).toEqual([SOT, 0, 0]);
    expect((await drawn(zeroLikely, { topK: 1 }))[0]).toBe(0);
  });

  it('row seeds must be one per row', async () => {
    await expect(greedyOrSample(new FakeStepper([0, 0], 1, V, hashedLogits(V, 1)), 3, { maxLen: 3, sample: { rowSeeds: [1, 2, 3] } })).rejects.toThrow(new SearchError('sampling: 3 row seeds for 2 rows'));
  });
});

describe('checkSearch: the limits not covered elsewhere', () => {
  const message = (r: SearchRequest) => {
    try {
      checkSearch(r);
    } catch (e) {
      expect(e).toBeInstanceOf(SearchError);
      expect(e).toBeInstanceOf(CocaError);
      expect((e as Error).name).toBe('SearchError');
      return (e as Error).message;
    }
    return 'accepted';
  };

  it('each option by its name, each bound inclusive or not as stated', () => {
    expect(message({ minLen: -1 })).toBe('minLen must be an integer ≥ 0, got -1');
    expect(message({ minLen: 0.5 })).toBe('minLen must be an integer ≥ 0, got 0.5');
    expect(message({ topK: -1 })).toBe('topK must be an integer ≥ 0, got -1');
    expect(message({ lengthPenalty: NaN })).toBe('lengthPenalty must be a number, got NaN');
    expect(message({ lengthPenalty: Infinity })).toBe('lengthPenalty must be a number, got Infinity');
    expect(message({ lengthPenalty: -2 })).toBe('accepted');
    expect(message({ topP: 0 })).toBe('topP must be in (0, 1], got 0');
    expect(message({ topP: -0.5 })).toBe('topP must be in (0, 1], got -0.5');
    expect(message({ topP: 1 })).toBe('accepted');
    expect(message({ temperature: 0 })).toBe('temperature must be > 0, got 0');
    expect(message({ temperature: 0.01 })).toBe('accepted');
  });

  it('temperature alone means sampling; one beam may be named with sampling, more may not', () => {
    expect(checkSearch({ temperature: 0.5 })).toMatchObject({ beams: 1, sample: { temperature: 0.5, topK: 0, topP: 1, seed: 0 } });
    expect(checkSearch({ sample: true, beams: 1 })).toMatchObject({ beams: 1, sample: {} });
    expect(message({ sample: true, beams: 2 })).toBe('sampling draws one caption per image: leave out beams, or drop sample/topK/topP/temperature to search');
    expect(checkSearch({ beams: 2 })).toEqual({ maxLen: 30, minLen: 0, beams: 2, lengthPenalty: 1, repetitionPenalty: 1 });
  });
});

describe('logSoftmax and the length normalisation', () => {
  it('log-softmax in float64, stable for large logits, −∞ kept', () => {
    const x = Float32Array.of(1000, 999, -Infinity, 998.5);
    const lse = 1000 + Math.log(1 + Math.exp(-1) + Math.exp(-1.5));
    expect(Array.from(logSoftmax(x))).toEqual([1000 - lse, 999 - lse, -Infinity, 998.5 - lse]);
    // The largest logit anywhere in the row, not last: no overflow whatever the order.
    expect(Array.from(logSoftmax(Float32Array.of(1000, 0)))).toEqual([0, -1000]);
    expect(Array.from(logSoftmax(Float32Array.of(0, 1000, -Infinity)))).toEqual([-1000, 0, -Infinity]);
    const y = Float32Array.of(-3, -1, -2);
    const z = Math.log(Math.exp(-3) + Math.exp(-1) + Math.exp(-2));
    logSoftmax(y).forEach((v, i) => expect(v).toBeCloseTo(y[i]! - z, 14));
  });

  it('Σ log-probs / len^α', () => {
    expect(normalisedScore(-6, 4, 0)).toBe(-6);
    expect(normalisedScore(-6, 4, 1)).toBe(-1.5);
    expect(normalisedScore(-6, 4, 0.5)).toBe(-3);
  });
});

describe('the survivors of the third mutation run (docs/mutation.md)', () => {
  const V7 = 7;
  it('a draw that lands exactly on the boundary between two tokens takes the upper one (each token owns [c_k, c_k+1))', async () => {
    // 2^16 tokens of equal logit: every mass is exp(0) = 1, so u = next() · 2^16 and every running
    // sum are exact, and the token drawn is the floor of u. A generator whose first 32-bit draw is a
    // multiple of 2^16 puts u on a whole number k: the token is then k's, never k − 1's. Such seeds
    // are 1 in 65,536; the first two are found here, with two ordinary ones beside them.
    const n = 1 << 16;
    const V = n + 2; // [PAD] 0 and [SOT] 1 never drawn; ids 2 … n + 1, [EOT] 2 among them
    const onBoundary: number[] = [];
    for (let seed = 0; onBoundary.length < 2; seed++) {
      const u32 = new Rng(seed).u32();
      if (u32 !== 0 && u32 % n === 0) onBoundary.push(seed);
    }
    const seeds = [...onBoundary, 1, 2];
    const caps = await greedyOrSample(new FakeStepper(seeds.map(() => 0), 1, V, () => new Float32Array(V)), 2, { maxLen: 2, sample: { rowSeeds: seeds } });
    const want = seeds.map((s) => 2 + Math.floor(new Rng(s).u32() / (2 ** 32 / n)));
    expect(caps.map((c) => c.tokens[1])).toEqual(want);
    // Not vacuous: the boundary draws are whole numbers, the ordinary ones are not.
    expect(onBoundary.every((s) => Number.isInteger(new Rng(s).next() * n))).toBe(true);
  });

  it('an image is done when its best running beam ties the worst finished caption (Hugging Face: worst ≥ current)', async () => {
    // K = 1, α = 1. After [SOT], [EOT] and token 3 tie at −ln 2: [EOT] (the lower id) finishes at
    // −ln 2 / 1 and the running beam [SOT 3] scores −ln 2 / 1 too, exactly. Done there: the caption is
    // [SOT EOT]. Stepping on would find 3 → 4 → [EOT] at log-prob 0 each, a caption of −ln 2 / 3,
    // better, which a search that stops only strictly below the worst would return instead.
    const fn: LogitFn = (_, prefix) => {
      const z = new Float32Array(V7).fill(-Infinity);
      if (prefix.length === 1) z[EOT] = z[3] = 0;
      else z[prefix.length === 2 ? 4 : EOT] = 0;
      return z;
    };
    const [c] = await beamSearch(new FakeStepper([0], 1, V7, fn), 6, { maxLen: 6, lengthPenalty: 1 });
    expect(c!.tokens).toEqual([SOT, EOT]);
    expect(c!.score).toBe(-Math.LN2);
    expectCaption(c!, referenceBeam(fn, 0, V7, 1, { maxLen: 6, alpha: 1, minLen: 0, theta: 1 }), 'tie');
    // Not vacuous: with [EOT] a little less likely than 3 at first, the longer caption wins.
    const fn2: LogitFn = (image, prefix) => {
      const z = fn(image, prefix);
      if (prefix.length === 1) z[EOT] = -0.001;
      return z;
    };
    expect((await beamSearch(new FakeStepper([0], 1, V7, fn2), 6, { maxLen: 6, lengthPenalty: 1 }))[0]!.tokens).toEqual([SOT, 3, 4, EOT]);
  });

  it('the second beam continues the third likeliest first word when [EOT] is the likeliest (CLIP’s [EOT] is its last id)', async () => {
    // Ids: [PAD] 0, [SOT] 1, words 2 … 6, [EOT] 7. After [SOT] the logits rise with the id, so
    // [EOT] leads, then 6, 5, 4: [EOT] finishes (−1.155), and the two beams continue 6 and 5
    // (log-probs 3.1 − lse and 3.0 − lse, lse = ln Σ e^x ≈ 4.355). After [SOT 5] [EOT] is certain,
    // after anything else it is one of six equal tokens: [SOT 5 EOT] scores (3.0 − lse) / 2 ≈ −0.68
    // and wins (α = 1). A top-2K list that keeps only the best few in order drops 5 for 4 and
    // returns [SOT EOT].
    const first = Float32Array.of(-Infinity, -Infinity, 0, 1, 2, 3, 3.1, 3.2);
    const fn: LogitFn = (_, prefix) => {
      if (prefix.length === 1) return first;
      const z = Float32Array.of(-Infinity, -Infinity, 0, 0, 0, 0, 0, 0);
      if (prefix[1] === 5) z[7] = 10;
      return z;
    };
    const [c] = await beamSearch(new FakeStepper([0], 2, 8, fn), 3, { maxLen: 3, lengthPenalty: 1, pad: 0, sot: 1, eot: 7 });
    const lse = Math.log([0, 1, 2, 3, 3.1, 3.2].reduce((a, x) => a + Math.exp(Math.fround(x)), 0));
    const lpEot = 10 - Math.log(Math.exp(10) + 5);
    expect(c!.tokens).toEqual([1, 5, 7]);
    expect(c!.score).toBeCloseTo((3 - lse + lpEot) / 2, 9);
  });
});
