// Gradient accumulation (--grad-accum): the gradients left in the parameters are the mean of the
// micro-batches' own gradients (the logit scale's too, which the loss sets rather than adds), and
// for the captioning loss alone, K micro-batches with equal token counts give the gradients of
// one K-times larger batch; float64 sums of the separately computed gradients are the reference.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { CocaModel, type CocaInputs } from '../../src/model/coca.ts';
import { parseConfig } from '../../src/model/config.ts';
import { lossAndBackward, type LossWeights } from '../../src/model/loss.ts';
import { accumulateGradients } from '../../src/train/accumulate.ts';
import { Rng } from '../../src/util/prng.ts';
import { testGpu } from '../helpers/gpu.ts';

let gpu: Gpu;
let model: CocaModel;
beforeAll(async () => {
  gpu = await testGpu();
  const config = parseConfig(JSON.parse(fs.readFileSync(path.join(import.meta.dirname, '..', 'fixtures', 'parity_micro.json'), 'utf8')));
  model = CocaModel.init(gpu, config, 11);
});
afterAll(() => {
  model?.params.release();
  gpu?.pool.trim();
});

/** B rows of random pixels and full-length captions (every row counts the same caption tokens). */
function batch(B: number, seed: number): CocaInputs {
  const rng = new Rng(seed);
  const S = model.config.vision_cfg.image_size;
  const L = model.config.text_cfg.context_length;
  const V = model.config.text_cfg.vocab_size;
  const images = Float32Array.from({ length: B * 3 * S * S }, () => rng.normal());
  const text = new Int32Array(B * L);
  for (let b = 0; b < B; b++) {
    text[b * L] = 1;
    for (let t = 1; t < L - 1; t++) text[b * L + t] = 3 + rng.int(V - 3);
    text[b * L + L - 1] = 2;
  }
  return { images, text, batch: B };
}

function concat(a: CocaInputs, b: CocaInputs): CocaInputs {
  const images = new Float32Array(a.images.length + b.images.length);
  images.set(a.images);
  images.set(b.images, a.images.length);
  const text = new Int32Array(a.text.length + b.text.length);
  text.set(a.text);
  text.set(b.text, a.text.length);
  return { images, text, batch: a.batch + b.batch };
}

async function grads(): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const [name, p] of model.params.params) out.set(name, p.tensor.grad ? await p.tensor.grad.toArray() : new Float32Array(p.tensor.size));
  return out;
}

async function gradsOf(inp: CocaInputs, weights: LossWeights): Promise<Map<string, Float32Array>> {
  model.params.zeroGrad();
  const p = model.prepare(inp);
  try {
    await lossAndBackward(model, p, weights);
  } finally {
    p.release();
  }
  return grads();
}

function expectClose(got: Map<string, Float32Array>, want: Map<string, Float64Array>): void {
  for (const [name, w] of want) {
    const g = got.get(name)!;
    let scale = 0;
    for (const x of w) scale = Math.max(scale, Math.abs(x));
    let worst = 0;
    for (let i = 0; i < w.length; i++) worst = Math.max(worst, Math.abs(g[i]! - w[i]!));
    expect(worst, `${name}: max |Δ| ${worst} at scale ${scale}`).toBeLessThanOrEqual(1e-5 + 1e-4 * scale);
  }
}

describe('gradient accumulation', () => {
  it('leaves the mean of the micro-batches’ gradients, the logit scale’s included', async () => {
    const weights = { contrastive: 1, caption: 2 };
    const micro = [batch(3, 1), batch(5, 2), batch(4, 3)];
    const each = [];
    for (const m of micro) each.push(await gradsOf(m, weights));
    const want = new Map<string, Float64Array>();
    for (const name of each[0]!.keys()) {
      const sum = new Float64Array(each[0]!.get(name)!.length);
      for (const g of each) g.get(name)!.forEach((x, i) => (sum[i]! += x / micro.length));
      want.set(name, sum);
    }
    expect(Math.abs(want.get('logit_scale')![0]!)).toBeGreaterThan(0);
    const r = await accumulateGradients(model, micro, weights);
    expectClose(await grads(), want);
    expect(r.total).toBeCloseTo(r.contrastive + 2 * r.caption, 5);
  });

  it('equals one batch of all the rows for the captioning loss', async () => {
    const weights = { contrastive: 0, caption: 2 };
    const [a, b] = [batch(4, 7), batch(4, 8)];
    const whole = await gradsOf(concat(a, b), weights);
    await accumulateGradients(model, [a, b], weights);
    expectClose(await grads(), new Map([...whole].map(([k, v]) => [k, Float64Array.from(v)])));
  });
});
