// A decoding step's attention branches in one dispatch each (decodeBranch: ln_1, the in-projection,
// the KV append, attention, out_proj and the residual in attn_fwd_proj with INPROJ), at one batch
// row (where it is taken by default) and two (COCA_ATTENTION_INPROJ=2): greedy decoding gives the
// tokens and log-probs of the same cached decoder with the branches unfused
// (COCA_ATTENTION_INPROJ=0) and of full recomputation.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { CachedStepper } from '../../src/infer/kvcache.ts';
import { greedyOrSample, type Caption } from '../../src/infer/search.ts';
import { RecomputeStepper, type Stepper } from '../../src/infer/stepper.ts';
import { CocaModel } from '../../src/model/coca.ts';
import { noGrad } from '../../src/tensor/tape.ts';
import { tidy } from '../../src/tensor/tensor.ts';
import { decodingConfig } from '../helpers/decoding-config.ts';
import { kernelKeys } from '../helpers/dispatches.ts';
import { testGpu } from '../helpers/gpu.ts';
import { Rng } from '../../src/util/prng.ts';

let gpu: Gpu;
let model: CocaModel;
const maxLen = 12;

beforeAll(async () => {
  gpu = await testGpu();
  model = CocaModel.init(gpu, decodingConfig(), 7);
  // Sharper next-token distributions than the init gives, so decoding takes real decisions.
  const proj = model.params.get('text_decoder.text_projection');
  const w = await proj.toArray();
  gpu.write(proj.buffer, w.map((x) => x * 8), proj.offset * 4);
});
afterAll(() => {
  model?.params.release();
  gpu?.pool.trim();
});
afterEach(() => {
  delete process.env.COCA_ATTENTION_INPROJ;
});

/** `inproj`: the branches fused (COCA_ATTENTION_INPROJ at B, the default at one row), else 0. */
async function decode(B: number, stepper: 'cached' | 'recompute', inproj: boolean): Promise<{ captions: Caption[]; keys: string[] }> {
  process.env.COCA_ATTENTION_INPROJ = inproj ? String(B) : '0';
  const S = model.config.vision_cfg.image_size;
  const rng = new Rng(31 + B);
  const images = Float32Array.from({ length: B * 3 * S * S }, () => rng.normal());
  const patches = model.preparePatches(images, B);
  const enc = noGrad(() => tidy(() => model.encodeImage(patches)));
  const s: Stepper = stepper === 'cached' ? new CachedStepper(model, enc.tokens, { beams: 1 }) : new RecomputeStepper(model, enc.tokens, 1);
  try {
    let captions: Promise<Caption[]> | undefined;
    const keys = kernelKeys(gpu, () => {
      captions = greedyOrSample(s, maxLen, { maxLen });
    });
    return { captions: await captions!, keys };
  } finally {
    s.release();
    patches.release();
    enc.embedding.release();
    enc.tokens.release();
  }
}

describe('decoding steps with their attention branches fused', () => {
  for (const B of [1, 2]) {
    it(`batch ${B}: the tokens and log-probs of the unfused branches and of recomputation`, async () => {
      const fused = await decode(B, 'cached', true);
      const apart = await decode(B, 'cached', false);
      const full = await decode(B, 'recompute', true);
      expect(fused.captions.some((c) => c.tokens.length > 3)).toBe(true);
      expect(fused.captions).toEqual(apart.captions);
      expect(fused.captions).toEqual(full.captions);
    });
  }

  it('is what a batch-1 step runs, and COCA_ATTENTION_INPROJ=0 turns it off', async () => {
    const inproj = (keys: string[]) => keys.filter((k) => k.includes('attn_fwd_proj') && k.includes('INPROJ=true')).length;
    // The first step's dispatches are recorded synchronously; the rest after awaits, outside the spy.
    expect(inproj((await decode(1, 'cached', true)).keys)).toBeGreaterThan(0);
    expect(inproj((await decode(1, 'cached', false)).keys)).toBe(0);
  });
});
