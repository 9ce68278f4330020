// CoCa with the CNN image tower (vision_cfg.tower "cnn") beyond the parity fixture: batch norm's
// running statistics are state that checkpoints carry (a model loaded from one encodes a picture
// exactly as the one saved), inference and a frozen tower never move them, an image's embedding
// in inference does not depend on the rest of its batch (running statistics, not the batch's),
// and captioning runs on the tower's tokens.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { captionImages } from '../../src/infer/caption.ts';
import { poolerPatchWeights } from '../../src/infer/word-maps.ts';
import { exportOpenClip } from '../../src/interop/openclip.ts';
import { loadCheckpoint } from '../../src/model/checkpoint.ts';
import { CocaModel } from '../../src/model/coca.ts';
import { parseConfig } from '../../src/model/config.ts';
import { lossAndBackward } from '../../src/model/loss.ts';
import { noGrad } from '../../src/tensor/tape.ts';
import { tidy } from '../../src/tensor/tensor.ts';
import { AdamW } from '../../src/train/adamw.ts';
import { loadOptimizerInto, saveCheckpoint } from '../../src/train/checkpoint.ts';
import { syntheticBatch, trainStep } from '../../src/train/step.ts';
import { Rng } from '../../src/util/prng.ts';
import { testGpu } from '../helpers/gpu.ts';

let gpu: Gpu;
let dir: string;
beforeAll(async () => {
  gpu = await testGpu();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-cnn-'));
});
afterAll(() => {
  gpu?.pool.trim();
  fs.rmSync(dir, { recursive: true, force: true });
});

const microCnn = () => parseConfig(JSON.parse(fs.readFileSync(path.join(import.meta.dirname, '..', 'fixtures', 'parity_micro_cnn.json'), 'utf8')));

async function embed(model: CocaModel, images: Float32Array, B: number): Promise<Float32Array> {
  const patches = model.preparePatches(images, B);
  const e = noGrad(() => tidy(() => model.encodeImage(patches).embedding));
  patches.release();
  const out = await e.toArray();
  e.release();
  return out;
}

async function buffers(model: CocaModel): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const [name, p] of model.params.params) if (p.buffer) out.set(name, await p.tensor.toArray());
  return out;
}

describe('CoCa with the CNN tower', () => {
  it('a checkpoint carries the running statistics: the loaded model encodes as the saved one, and resumes on the same loss', async () => {
    const a = CocaModel.init(gpu, microCnn(), 5);
    const opt = new AdamW(gpu, a.params, { lr: 1e-3, beta1: 0.9, beta2: 0.98, eps: 1e-6, weightDecay: 0.1 });
    const batch = syntheticBatch(a, 3, new Rng(2));
    const inp = a.prepare(batch);
    const fresh = await buffers(a);
    await trainStep(a, opt, inp);
    const moved = await buffers(a);
    // Not vacuous: the step moved every running statistic away from its initial 0 or 1.
    for (const [name, v] of moved) expect(v, name).not.toEqual(fresh.get(name));
    const ck = path.join(dir, 'ck');
    await saveCheckpoint(ck, a, { optimizer: opt, state: { step: opt.step } });
    const b = loadCheckpoint(gpu, ck);
    expect(await buffers(b)).toEqual(moved);
    expect(() => exportOpenClip(ck, path.join(dir, 'oc'))).toThrow(/CNN image tower .*only ViT models export to open_clip/);
    expect(fs.existsSync(path.join(dir, 'oc', 'open_clip_model.safetensors'))).toBe(false);
    expect(await embed(b, batch.images, 3)).toEqual(await embed(a, batch.images, 3));
    const optB = new AdamW(gpu, b.params, opt.hyper);
    loadOptimizerInto(ck, optB);
    expect((await trainStep(b, optB, inp)).total).toBe((await trainStep(a, opt, inp)).total);
    inp.release();
    for (const o of [opt, optB]) o.release();
    for (const m of [a, b]) m.params.release();
  });

  it('inference uses the running statistics: it moves none, and a picture encodes alike alone or in a batch', async () => {
    const model = CocaModel.init(gpu, microCnn(), 6);
    const batch = syntheticBatch(model, 3, new Rng(3));
    // One training forward first, so the running statistics are not the identity map.
    const inp = model.prepare(batch);
    await lossAndBackward(model, inp);
    model.params.zeroGrad();
    inp.release();
    const before = await buffers(model);
    const all = await embed(model, batch.images, 3);
    const per = batch.images.length / 3;
    const alone = await embed(model, batch.images.slice(per, 2 * per), 1);
    const E = model.config.embed_dim;
    const row = all.slice(E, 2 * E);
    for (let i = 0; i < E; i++) expect(Math.abs(alone[i]! - row[i]!), `element ${i}`).toBeLessThan(1e-5 * (1 + Math.abs(row[i]!)));
    expect(await buffers(model)).toEqual(before);
    model.params.release();
  });

  it('a frozen tower (no gradient) runs on the running statistics on the tape too', async () => {
    const model = CocaModel.init(gpu, microCnn(), 7);
    const batch = syntheticBatch(model, 3, new Rng(4));
    for (const [name, p] of model.params.params) if (name.startsWith('visual.')) p.tensor.requiresGrad = false;
    const inp = model.prepare(batch);
    const before = await buffers(model);
    await lossAndBackward(model, inp);
    expect(await buffers(model)).toEqual(before);
    expect(model.params.get('visual.conv1.weight').grad).toBeNull();
    expect(model.params.get('text.ln_final.weight').grad).not.toBeNull();
    inp.release();
    model.params.zeroGrad();
    model.params.release();
  });

  it('captions from the tower tokens (greedy and beam)', async () => {
    const model = CocaModel.init(gpu, microCnn(), 8);
    const batch = syntheticBatch(model, 2, new Rng(5));
    for (const beams of [1, 2]) {
      const caps = await captionImages(model, batch.images, 2, { beams, maxLen: 7 });
      expect(caps).toHaveLength(2);
      for (const c of caps) {
        expect(c.tokens.length).toBeGreaterThan(0);
        expect(c.tokens.every((t) => Number.isInteger(t) && t >= 0 && t < model.config.text_cfg.vocab_size)).toBe(true);
      }
    }
    model.params.release();
  });

  it('per-word attention pictures: the pooler weights over the map pixels (no class token), each row a distribution', async () => {
    const model = CocaModel.init(gpu, microCnn(), 9);
    const batch = syntheticBatch(model, 2, new Rng(6));
    const w = await poolerPatchWeights(model, batch.images, 2);
    const P = 9; // the 3x3 map
    const N = model.config.vision_cfg.attn_pooler_queries;
    expect(w.length).toBe(2 * N * P);
    for (let r = 0; r < 2 * N; r++) {
      const row = w.subarray(r * P, (r + 1) * P);
      expect(row.reduce((a, x) => a + x, 0)).toBeCloseTo(1, 5);
      expect(Math.min(...row)).toBeGreaterThan(0);
    }
    // The two pictures differ, so their maps do (the weights read the picture, not a constant).
    expect(Math.max(...w.subarray(0, N * P).map((x, i) => Math.abs(x - w[N * P + i]!)))).toBeGreaterThan(1e-4);
    model.params.release();
  });
});
