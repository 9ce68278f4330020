// The nano model can learn: on 8 fixed image–caption pairs the total loss falls below 0.1 within
// a bounded number of AdamW steps, and greedy decoding then reproduces every training caption.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { captionImages } from '../../src/infer/caption.ts';
import { CocaModel } from '../../src/model/coca.ts';
import { loadConfig } from '../../src/model/config.ts';
import { AdamW } from '../../src/train/adamw.ts';
import { trainStep } from '../../src/train/step.ts';
import { Rng } from '../../src/util/prng.ts';
import { testGpu } from '../helpers/gpu.ts';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.pool.trim());

const MAX_STEPS = 150;
const TARGET = 0.1;

describe('overfit', () => {
  it(`nano: 8 pairs, total loss < ${TARGET} within ${MAX_STEPS} steps, greedy decoding reproduces the captions`, async () => {
    const config = loadConfig('nano');
    const model = CocaModel.init(gpu, config, 1);
    const rng = new Rng(7);
    const B = 8;
    const L = 8;
    const S = config.vision_cfg.image_size;
    const images = new Float32Array(B * 3 * S * S);
    for (let i = 0; i < images.length; i++) images[i] = rng.normal();
    // Captions of 3 to 5 words, [SOT] … [EOT] then pad (0).
    const captions = Array.from({ length: B }, (_, b) => [1, ...Array.from({ length: 3 + (b % 3) }, () => 3 + rng.int(config.text_cfg.vocab_size - 3)), 2]);
    const text = new Int32Array(B * L);
    captions.forEach((c, b) => c.forEach((t, i) => (text[b * L + i] = t)));
    const inp = model.prepare({ images, text, batch: B });
    const opt = new AdamW(gpu, model.params, { lr: 2e-3, weightDecay: 0 });
    let step = 0;
    let total = Infinity;
    const first = (await trainStep(model, opt, inp)).total;
    while (step < MAX_STEPS && total >= TARGET) {
      total = (await trainStep(model, opt, inp)).total;
      step++;
    }
    console.log(`overfit: total loss ${first.toFixed(3)} → ${total.toFixed(4)} in ${step + 1} steps`);
    expect(total).toBeLessThan(TARGET);
    const decoded = await captionImages(model, images, B, { maxLen: L, beams: 1 });
    expect(decoded.map((c) => c.tokens)).toEqual(captions);
    inp.release();
    opt.release();
    model.params.release();
  });
});
