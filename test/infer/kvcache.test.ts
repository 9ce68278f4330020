// The KV-cached decoder computes what full recomputation computes: the same tokens and the same
// log-probs, greedy and beam, several images at once, on both attention paths. Beam search with
// one beam is greedy; beam scores are length-normalised as search.ts documents. Min-len and the
// repetition penalty are checked on logits biased by hand (a model that ends at once, or repeats).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ATTENTION_PATHS } from '../../kernels/attention.ts';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { captionImages } from '../../src/infer/caption.ts';
import { CachedStepper } from '../../src/infer/kvcache.ts';
import { beamSearch, greedyOrSample, normalisedScore, type Caption, type SearchOptions } from '../../src/infer/search.ts';
import { RecomputeStepper, type Stepper } from '../../src/infer/stepper.ts';
import { CocaModel } from '../../src/model/coca.ts';
import { noGrad } from '../../src/tensor/tape.ts';
import { tidy, type Tensor } from '../../src/tensor/tensor.ts';
import { decodingConfig } from '../helpers/decoding-config.ts';
import { testGpu } from '../helpers/gpu.ts';
import { greedyDecode } from '../helpers/greedy.ts';
import { Rng } from '../../src/util/prng.ts';

let gpu: Gpu;
let model: CocaModel;
const B = 3;
let images: Float32Array;

beforeAll(async () => {
  gpu = await testGpu();
  model = CocaModel.init(gpu, decodingConfig(), 5);
  // Sharper next-token distributions than the init gives, so searches take real decisions.
  const proj = model.params.get('text_decoder.text_projection');
  const w = await proj.toArray();
  gpu.write(proj.buffer, w.map((x) => x * 8), proj.offset * 4);
  const rng = new Rng(21);
  const S = model.config.vision_cfg.image_size;
  images = Float32Array.from({ length: B * 3 * S * S }, () => rng.normal());
});
afterAll(() => {
  model?.params.release();
  gpu?.pool.trim();
});

async function withImageTokens<T>(fn: (tokens: Tensor) => Promise<T>): Promise<T> {
  const patches = model.preparePatches(images, B);
  const enc = noGrad(() => tidy(() => model.encodeImage(patches)));
  try {
    return await fn(enc.tokens);
  } finally {
    patches.release();
    enc.embedding.release();
    enc.tokens.release();
  }
}

async function both(beams: number, run: (s: Stepper) => Promise<Caption[]>): Promise<[Caption[], Caption[]]> {
  return withImageTokens(async (tokens) => {
    const out: Caption[][] = [];
    for (const s of [new CachedStepper(model, tokens, { beams }), new RecomputeStepper(model, tokens, beams)]) {
      try {
        out.push(await run(s));
      } finally {
        s.release();
      }
    }
    return [out[0]!, out[1]!];
  });
}

const maxLen = 12;

describe.each(ATTENTION_PATHS)('KV-cached decoding (%s attention)', (p) => {
  beforeAll(() => {
    model.attentionPath = p;
  });

  it('greedy: the tokens and log-probs of full recomputation, and the tokens of a direct greedy reference', async () => {
    const [cached, full] = await both(1, (s) => greedyOrSample(s, maxLen, { maxLen }));
    expect(cached.map((c) => c.tokens)).toEqual(full.map((c) => c.tokens));
    expect(cached.map((c) => c.logprobs)).toEqual(full.map((c) => c.logprobs));
    expect(cached.map((c) => c.tokens)).toEqual(await greedyDecode(model, images, B, { maxLen }));
    expect(cached.some((c) => c.tokens.length > 3)).toBe(true);
  });

  it('beam search (4 beams, 3 images): the tokens, log-probs and scores of full recomputation', async () => {
    const opts: SearchOptions = { maxLen, lengthPenalty: 0.7 };
    const [cached, full] = await both(4, (s) => beamSearch(s, maxLen, opts));
    expect(cached).toEqual(full);
  });

  it('sampling with a seed: the same draws with and without the cache, again for the same seed, and for each picture alone', async () => {
    const opts: SearchOptions = { maxLen, sample: { temperature: 0.9, topK: 10, topP: 0.9, seed: 11 } };
    const [cached, full] = await both(1, (s) => greedyOrSample(s, maxLen, opts));
    expect(cached).toEqual(full);
    const again = await captionImages(model, images, B, { ...opts, beams: 1 });
    expect(again).toEqual(cached);
    // coca caption's batches: each picture's caption is the one it gets captioned alone.
    const per = images.length / B;
    for (let i = 0; i < B; i++) expect(await captionImages(model, images.slice(i * per, (i + 1) * per), 1, { ...opts, beams: 1 }), `picture ${i}`).toEqual([cached[i]]);
  });
});

describe('beam search', () => {
  beforeAll(() => {
    model.attentionPath = undefined;
  });

  it("with one beam chooses greedy's tokens at any length penalty, with the model's own log-probs", async () => {
    // Greedy reports log-probs renormalised over the tokens it may choose; beam search, as Hugging
    // Face's, leaves [PAD] and [SOT] in the softmax and only never chooses them.
    const greedy = await captionImages(model, images, B, { maxLen, beams: 1 });
    await withImageTokens(async (tokens) => {
      for (const lengthPenalty of [0, 1, 2]) {
        const { out, raw } = await biased(tokens, 1, {}, (s) => beamSearch(s, maxLen, { maxLen, lengthPenalty }));
        expect(out.map((c) => c.tokens)).toEqual(greedy.map((c) => c.tokens));
        out.forEach((c, n) =>
          c.tokens.slice(1).forEach((t, k) => {
            const z = Array.from(raw[k]!.subarray(n * V(), (n + 1) * V()));
            const m = Math.max(...z);
            expect(c.logprobs[k]).toBeCloseTo(z[t]! - m - Math.log(z.reduce((a, x) => a + Math.exp(x - m), 0)), 9);
          }),
        );
      }
    });
  });

  it('scores are Σ log-probs / len^α with len = generated tokens including [EOT]', async () => {
    for (const alpha of [0, 0.6, 1.5]) {
      const out = await captionImages(model, images, B, { maxLen, beams: 3, lengthPenalty: alpha });
      for (const c of out) {
        const sum = c.logprobs.reduce((a, b) => a + b, 0);
        expect(c.logprobs.length).toBe(c.tokens.length - 1);
        expect(c.score).toBeCloseTo(sum / Math.pow(c.tokens.length - 1, alpha), 12);
      }
    }
    expect(normalisedScore(-6, 3, 1)).toBe(-2);
    expect(normalisedScore(-6, 4, 0)).toBe(-6);
  });

  it('min-len holds back an [EOT] the model wants at once, at every position up to min-len and no further (greedy and beam)', async () => {
    await withImageTokens(async (tokens) => {
      for (const beams of [1, 2]) {
        const run = (minLen: number) => biased(tokens, beams, { [EOT]: 100 }, (s) => (beams === 1 ? greedyOrSample : beamSearch)(s, maxLen, { maxLen, minLen }));
        // Not vacuous: without min-len every caption ends at once.
        for (const c of (await run(0)).out) expect(c.tokens).toEqual([SOT, EOT]);
        for (const c of (await run(4)).out) expect(c.tokens.indexOf(EOT)).toBe(5);
      }
    });
  });

  it('the repetition penalty divides a repeated token\'s positive logit by θ (a model that repeats one word)', async () => {
    await withImageTokens(async (tokens) => {
      const word = 7;
      const run = (repetitionPenalty: number) => biased(tokens, 1, { [word]: 60 }, (s) => greedyOrSample(s, maxLen, { maxLen, repetitionPenalty }));
      // Not vacuous: without the penalty the model says the word over and over.
      for (const c of (await run(1)).out) expect(c.tokens.slice(1, 5)).toEqual([word, word, word, word]);
      for (const c of (await run(1e6)).out) {
        expect(c.tokens[1]).toBe(word);
        const body = c.tokens.slice(1).filter((t) => t !== EOT);
        expect(new Set(body).size).toBe(body.length);
      }
      // θ = 2, the second token: the word's logit halved (it is positive), the rest as they are.
      const { out, raw } = await run(2);
      out.forEach((c, n) => {
        const z = Float64Array.from(raw[1]!.subarray(n * V(), (n + 1) * V()));
        expect(z[word]).toBeGreaterThan(0);
        z[word] = z[word]! / 2;
        z[PAD] = z[SOT] = -Infinity;
        let best = 0;
        for (let v = 1; v < z.length; v++) if (z[v]! > z[best]!) best = v;
        const lse = Math.log(z.reduce((a, x) => a + Math.exp(x), 0));
        expect(c.tokens[2]).toBe(best);
        expect(c.logprobs[1]).toBeCloseTo(z[best]! - lse, 5);
      });
    });
  });
});

const [PAD, SOT, EOT] = [0, 1, 2];
const V = () => model.config.multimodal_cfg.vocab_size;

/**
 * The search over the KV-cached decoder with `bias` added by hand to the logits it returns (a
 * model that ends captions at once, or repeats a word); `raw` holds every step's logits as the
 * search received them, before it adjusted them.
 */
async function biased(tokens: Tensor, beams: number, bias: Record<number, number>, search: (s: Stepper) => Promise<Caption[]>): Promise<{ out: Caption[]; raw: Float32Array[] }> {
  const inner = new CachedStepper(model, tokens, { beams });
  const raw: Float32Array[] = [];
  const s: Stepper = {
    rows: inner.rows,
    beams: inner.beams,
    vocab: inner.vocab,
    get length() {
      return inner.length;
    },
    async step(t) {
      const logits = await inner.step(t);
      for (let n = 0; n < inner.rows; n++) for (const [v, b] of Object.entries(bias)) logits[n * inner.vocab + Number(v)]! += b;
      raw.push(logits.slice());
      return logits;
    },
    reorder: (p) => inner.reorder(p),
    crossAttention: () => null,
    release: () => inner.release(),
  };
  try {
    return { out: await search(s), raw };
  } finally {
    s.release();
  }
}
