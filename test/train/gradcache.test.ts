// Gradient caching (--contrastive-batch N --micro-batch M) against one batch of all N rows, the
// same model and rows through lossAndBackward: every parameter's gradient (the logit scale's too)
// and both losses. Caption rows of unequal length make the micro-batches count different numbers
// of caption tokens, so a wrong caption weighting shows. With the captioning loss weighted 0 the
// vision tower's gradient comes only through the cached embedding gradients.
// CI runs N = 12, M = 4 (and a ragged 10 by 4) on `nano`; the size is
//   COCA_GRADCACHE_N=256 COCA_GRADCACHE_M=32 npx vitest run test/train/gradcache.test.ts
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { CocaModel, type CocaInputs } from '../../src/model/coca.ts';
import { loadConfig } from '../../src/model/config.ts';
import { computeLoss, lossAndBackward, type LossParts, type LossWeights } from '../../src/model/loss.ts';
import { cachedGradients, cachedLoss, splitBatch } from '../../src/train/gradcache.ts';
import { syntheticBatch } from '../../src/train/step.ts';
import { Rng } from '../../src/util/prng.ts';
import { testGpu } from '../helpers/gpu.ts';

const N = Number(process.env['COCA_GRADCACHE_N'] ?? 12);
const M = Number(process.env['COCA_GRADCACHE_M'] ?? 4);

let gpu: Gpu;
let model: CocaModel;
beforeAll(async () => {
  gpu = await testGpu();
  model = CocaModel.init(gpu, loadConfig('nano'), 3);
});
afterAll(() => {
  model?.params.release();
  gpu?.pool.trim();
});

const batchOf = (rows: number, seed: number): CocaInputs => syntheticBatch(model, rows, new Rng(seed));

async function grads(): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const [name, p] of model.params.params) out.set(name, p.tensor.grad ? await p.tensor.grad.toArray() : new Float32Array(p.tensor.size));
  return out;
}

async function oneBatch(inp: CocaInputs, weights: LossWeights): Promise<{ parts: LossParts; grads: Map<string, Float32Array> }> {
  model.params.zeroGrad();
  const p = model.prepare(inp);
  try {
    const r = await lossAndBackward(model, p, weights);
    return { parts: r.parts, grads: await grads() };
  } finally {
    p.release();
  }
}

/** Worst |Δ| over each tensor, against 1e-5 + 1e-4 × the tensor's largest |gradient|. */
function expectClose(got: Map<string, Float32Array>, want: Map<string, Float32Array>): number {
  let worstRel = 0;
  expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
  for (const [name, w] of want) {
    const g = got.get(name)!;
    let scale = 0;
    for (const x of w) scale = Math.max(scale, Math.abs(x));
    let worst = 0;
    for (let i = 0; i < w.length; i++) worst = Math.max(worst, Math.abs(g[i]! - w[i]!));
    expect(worst, `${name}: max |Δ| ${worst} at scale ${scale}`).toBeLessThanOrEqual(1e-5 + 1e-4 * scale);
    if (scale > 0) worstRel = Math.max(worstRel, worst / scale);
  }
  return worstRel;
}

const norm = (x: Float32Array) => Math.sqrt(x.reduce((s, v) => s + v * v, 0));

describe('gradient caching', () => {
  it(`gives every parameter the gradient of one batch of ${N} (micro-batches of ${M})`, async () => {
    const weights = { contrastive: 1, caption: 2 };
    const inp = batchOf(N, 1);
    const want = await oneBatch(inp, weights);
    const parts = await cachedGradients(model, inp, M, weights);
    const worst = expectClose(await grads(), want.grads);
    console.log(`gradient caching N=${N} M=${M} on nano: worst max|Δ|/max|g| over ${want.grads.size} parameters ${worst.toExponential(2)}`);
    expect(parts.contrastive).toBeCloseTo(want.parts.contrastive, 4);
    expect(parts.caption).toBeCloseTo(want.parts.caption, 4);
    expect(parts.logitScale).toBeCloseTo(want.parts.logitScale, 6);
    expect(Math.abs(want.grads.get('logit_scale')![0]!)).toBeGreaterThan(0);
  });

  it('carries the contrastive gradient into the towers through the cached embedding gradients', async () => {
    // Without the captioning loss the towers learn only from the contrastive one: a cached
    // gradient dropped or put on the wrong rows leaves these far from the one-batch values.
    const weights = { contrastive: 1, caption: 0 };
    const inp = batchOf(N, 2);
    const want = await oneBatch(inp, weights);
    for (const name of ['visual.proj', 'visual.conv1.weight', 'text.text_projection', 'text.token_embedding.weight']) {
      expect(norm(want.grads.get(name)!), name).toBeGreaterThan(1e-6);
    }
    await cachedGradients(model, inp, M, weights);
    expectClose(await grads(), want.grads);
  });

  it('splits a batch not a multiple of the micro-batch, the last piece shorter', async () => {
    const inp = batchOf(10, 3);
    expect(splitBatch(inp, 4).map((m) => m.batch)).toEqual([4, 4, 2]);
    const weights = { contrastive: 1, caption: 2 };
    const want = await oneBatch(inp, weights);
    await cachedGradients(model, inp, 4, weights);
    expectClose(await grads(), want.grads);
  });

  it('computes the loss of the whole batch forward only, in pieces (validation)', async () => {
    const inp = batchOf(10, 4);
    const p = model.prepare(inp);
    const want = await computeLoss(model, p).finally(() => p.release());
    const got = await cachedLoss(model, inp, 3);
    expect(got.parts.contrastive).toBeCloseTo(want.parts.contrastive, 5);
    expect(got.parts.caption).toBeCloseTo(want.parts.caption, 5);
    expect(got.captionTargets).toBe(want.captionTargets);
    for (let i = 0; i < want.imageEmbedding.length; i += 97) expect(got.imageEmbedding[i]).toBeCloseTo(want.imageEmbedding[i]!, 5);
    for (let i = 0; i < want.textEmbedding.length; i += 97) expect(got.textEmbedding[i]).toBeCloseTo(want.textEmbedding[i]!, 5);
  });

  it('holds less GPU memory at its peak than the one batch', async () => {
    const inp = batchOf(24, 5);
    const peakOf = async (f: () => Promise<unknown>) => {
      model.params.zeroGrad();
      gpu.pool.resetPeak();
      const base = gpu.pool.snapshot().inUseBytes;
      await f();
      return gpu.pool.snapshot().peakInUseBytes - base;
    };
    const whole = await peakOf(() => oneBatch(inp, { contrastive: 1, caption: 2 }));
    const pieces = await peakOf(() => cachedGradients(model, inp, 4));
    expect(pieces).toBeLessThan(whole / 2);
  });
});
