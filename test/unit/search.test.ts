// The searches of src/infer/search.ts on a stepper without a GPU: a made-up language model whose
// next-token logits are a fixed pseudo-random function of (picture, prefix). Sampling draws a
// picture's caption from its own generator (the same caption alone and in any batch); beam search
// finds what an exhaustive search over every caption finds when its beams can hold every prefix,
// and with two beams escapes a trap greedy falls into.
import { describe, expect, it } from 'vitest';
import { beamSearch, greedyOrSample, sampleSeeds, SearchError, type Caption, type SearchOptions } from '../../src/infer/search.ts';
import type { Stepper } from '../../src/infer/stepper.ts';
import { Rng } from '../../src/util/prng.ts';

const PAD = 0;
const SOT = 1;
const EOT = 2;

/** Logits of the next token after `prefix` for picture `image`: the same numbers whoever asks. */
type LogitFn = (image: number, prefix: readonly number[]) => Float32Array;

/** V tokens, logits uniform in ±spread, a pseudo-random function of (picture, prefix). */
function hashedLogits(V: number, spread: number): LogitFn {
  return (image, prefix) => {
    let h = 2166136261 ^ image;
    for (const t of prefix) h = Math.imul(h ^ t, 16777619) >>> 0;
    return new Rng(h).floats(V, -spread, spread);
  };
}

class FakeStepper implements Stepper {
  readonly rows: number;
  private prefix: number[][];

  constructor(
    private readonly images: readonly number[],
    readonly beams: number,
    readonly vocab: number,
    private readonly logits: LogitFn,
  ) {
    this.rows = images.length * beams;
    this.prefix = Array.from({ length: this.rows }, () => []);
  }

  get length(): number {
    return this.prefix[0]!.length;
  }

  async step(tokens: Int32Array): Promise<Float32Array> {
    expect(tokens.length).toBe(this.rows);
    const out = new Float32Array(this.rows * this.vocab);
    this.prefix.forEach((p, n) => {
      p.push(tokens[n]!);
      out.set(this.logits(this.images[Math.floor(n / this.beams)]!, p), n * this.vocab);
    });
    return out;
  }

  reorder(parents: Int32Array): void {
    this.prefix = Array.from(parents, (p) => [...this.prefix[p]!]);
  }

  crossAttention(): Float32Array | null {
    return null;
  }

  release(): void {}
}

const sample = (images: number[], opts: SearchOptions, V = 12, fn = hashedLogits(V, 2)) => greedyOrSample(new FakeStepper(images, 1, V, fn), opts.maxLen, opts);

describe('sampling', () => {
  const opts: SearchOptions = { maxLen: 10, sample: { temperature: 1, topK: 0, topP: 1, seed: 7 } };

  it("a picture's caption for a seed is the same alone and in any batch", async () => {
    const alone = await Promise.all([0, 1, 2, 3].map(async (i) => (await sample([i], opts))[0]!));
    for (const batch of [
      [0, 1, 2, 3],
      [3, 2, 1, 0],
      [2, 2, 0],
      [1, 3],
    ]) {
      const caps = await sample(batch, opts);
      expect(caps).toEqual(batch.map((i) => alone[i]));
    }
    // Not vacuous: the captions are drawn (another seed, other captions) and differ between pictures.
    const other = await Promise.all([0, 1, 2, 3].map(async (i) => (await sample([i], { ...opts, sample: { ...opts.sample, seed: 8 } }))[0]!));
    expect(other.map((c) => c.tokens)).not.toEqual(alone.map((c) => c.tokens));
    expect(new Set(alone.map((c) => c.tokens.join(' '))).size).toBeGreaterThan(1);
    expect(alone.some((c) => c.tokens.length > 3)).toBe(true);
  });

  it('row seeds: each row draws what it draws alone with that seed; the first of sampleSeeds is the seed itself', async () => {
    const seeds = sampleSeeds(5, 3);
    expect(seeds[0]).toBe(5);
    expect(new Set(seeds).size).toBe(3);
    const caps = await sample([4, 4, 4], { ...opts, sample: { ...opts.sample, rowSeeds: seeds } });
    for (const [n, seed] of seeds.entries()) expect(caps[n]).toEqual((await sample([4], { ...opts, sample: { ...opts.sample, seed } }))[0]);
    expect(new Set(caps.map((c) => c.tokens.join(' '))).size).toBeGreaterThan(1);
    await expect(sample([4, 4], { ...opts, sample: { ...opts.sample, rowSeeds: [1] } })).rejects.toThrow(SearchError);
  });
});

/**
 * Every caption the model can write, scored as search.ts documents (Σ log-probs / len^α, len =
 * generated tokens including [EOT]; [PAD] and [SOT] never generated, but their probability not
 * handed to the others, as in Hugging Face's beam search), the best returned. Written from the
 * definition, sharing no code with the search.
 */
function exhaustive(fn: LogitFn, image: number, V: number, maxLen: number, alpha: number): { tokens: number[]; score: number } {
  let best = { tokens: [] as number[], score: -Infinity };
  const visit = (tokens: number[], sum: number) => {
    const generated = tokens.length - 1;
    if (tokens[tokens.length - 1] === EOT || tokens.length === maxLen) {
      const score = sum / generated ** alpha;
      if (score > best.score) best = { tokens, score };
      return;
    }
    const z = fn(image, tokens);
    const allowed = [...z.keys()].filter((v) => v !== PAD && v !== SOT);
    const lse = Math.log(z.reduce((a, x) => a + Math.exp(x), 0));
    for (const v of allowed) visit([...tokens, v], sum + z[v]! - lse);
  };
  visit([SOT], 0);
  return best;
}

describe('beam search', () => {
  // 3 words + [EOT]: at most 3^3 = 27 live prefixes before the last step of maxLen 5.
  const V = 6;
  const maxLen = 5;
  const fn = hashedLogits(V, 3);
  const beam = (images: number[], K: number, alpha: number, f = fn): Promise<Caption[]> => beamSearch(new FakeStepper(images, K, V, f), maxLen, { maxLen, lengthPenalty: alpha });

  it('with beams for every prefix, the best caption of an exhaustive search, at α = 0, 0.7 and 1', async () => {
    for (const alpha of [0, 0.7, 1]) {
      const caps = await beam([0, 1, 2, 3, 4, 5], 32, alpha);
      caps.forEach((c, i) => {
        const ref = exhaustive(fn, i, V, maxLen, alpha);
        expect(c.tokens).toEqual(ref.tokens);
        expect(c.score).toBeCloseTo(ref.score, 9);
      });
    }
    // Not vacuous: greedy misses the best caption of some of these pictures.
    const greedy = await greedyOrSample(new FakeStepper([0, 1, 2, 3, 4, 5], 1, V, fn), maxLen, { maxLen });
    expect(greedy.some((g, i) => g.tokens.join(' ') !== exhaustive(fn, i, V, maxLen, 0).tokens.join(' '))).toBe(true);
  });

  it('with two beams finds the caption greedy misses when the likeliest first word leads nowhere', async () => {
    // Word 3 is the likeliest first word but everything after it is flat (log 4 spread over 4
    // tokens); word 4 is a little less likely first and then [EOT] is near certain.
    const trap: LogitFn = (_, prefix) => {
      const z = new Float32Array(V).fill(0);
      if (prefix.length === 1) z.set([0, 0, -5, 1, 0.5, -5]);
      else if (prefix[1] === 4) z[EOT] = 10;
      return z;
    };
    const ref = exhaustive(trap, 0, V, maxLen, 0);
    expect(ref.tokens).toEqual([SOT, 4, EOT]);
    const greedy = await greedyOrSample(new FakeStepper([0], 1, V, trap), maxLen, { maxLen });
    expect(greedy[0]!.tokens.slice(0, 2)).toEqual([SOT, 3]);
    const [two] = await beam([0], 2, 0, trap);
    expect(two!.tokens).toEqual(ref.tokens);
    expect(two!.score).toBeCloseTo(ref.score, 9);
  });
});

describe('pad id', () => {
  // Id 0 is the likeliest token at every step.
  const zeroFirst: LogitFn = () => Float32Array.from([5, -9, 0, 1, 2]);
  const greedy = (pad: number | undefined) => greedyOrSample(new FakeStepper([0], 1, 5, zeroFirst), 3, { maxLen: 3, sot: SOT, eot: EOT, ...(pad === undefined ? {} : { pad }) });

  it("is never generated when it is a token of its own (coca's [PAD])", async () => {
    const [c] = await greedy(undefined);
    expect(c!.tokens).toEqual([SOT, 4, 4]);
  });

  it('is generated when it is a real token too (CLIP pads with 0, "!"): pad -1', async () => {
    const [c] = await greedy(-1);
    expect(c!.tokens).toEqual([SOT, PAD, PAD]);
  });
});
