// The training step as one recorded piece of GPU work: it reads back once (the losses, the
// gradient norm and the NaN/Inf flag), its losses equal the loss computed separately, and a step
// whose loss is not finite changes no parameter, no moment and no step count.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { CocaModel } from '../../src/model/coca.ts';
import { parseConfig } from '../../src/model/config.ts';
import { computeLoss } from '../../src/model/loss.ts';
import { AdamW, STEP_STATS_FLOATS } from '../../src/train/adamw.ts';
import { syntheticBatch, trainStep } from '../../src/train/step.ts';
import { Rng } from '../../src/util/prng.ts';
import { testGpu } from '../helpers/gpu.ts';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.pool.trim());

const micro = () => parseConfig(JSON.parse(fs.readFileSync(path.join(import.meta.dirname, '..', 'fixtures', 'parity_micro.json'), 'utf8')));

describe('trainStep', () => {
  it('reads back once, 32 bytes, and logs the losses the forward pass computes', async () => {
    const model = CocaModel.init(gpu, micro(), 5);
    const opt = new AdamW(gpu, model.params, { lr: 1e-3 });
    const inp = model.prepare(syntheticBatch(model, 5, new Rng(2)));
    try {
      const before = await computeLoss(model, inp);
      const c0 = { ...gpu.counters };
      const r = await trainStep(model, opt, inp);
      expect(gpu.counters.reads - c0.reads).toBe(1);
      expect(gpu.counters.bytesRead - c0.bytesRead).toBe(STEP_STATS_FLOATS * 4);
      expect(r.nonFinite).toBeNull();
      expect(opt.step).toBe(1);
      // The step's loss is the loss before its update: the same kernels on the same inputs.
      expect(r.contrastive).toBeCloseTo(before.parts.contrastive, 5);
      expect(r.caption).toBeCloseTo(before.parts.caption, 5);
      expect(r.total).toBeCloseTo(before.parts.total, 5);
      expect(r.gradNorm).toBeGreaterThan(0);
      const after = await computeLoss(model, inp);
      expect(after.parts.total).not.toBe(before.parts.total);
    } finally {
      inp.release();
      opt.release();
      model.params.release();
    }
  });

  it('a step whose loss is NaN changes no parameter, moment or step count, and says why', async () => {
    const model = CocaModel.init(gpu, micro(), 6);
    const opt = new AdamW(gpu, model.params, { lr: 1e-3 });
    const good = model.prepare(syntheticBatch(model, 4, new Rng(3)));
    const batch = syntheticBatch(model, 4, new Rng(3));
    batch.images[7] = NaN;
    const bad = model.prepare(batch);
    try {
      await trainStep(model, opt, good);
      const params = await model.params.state();
      const moments = await opt.state();
      const r = await trainStep(model, opt, bad, { lr: 5e-3 });
      expect(r.nonFinite).toMatch(/the loss \(contrastive\) is NaN|the loss \(caption\) is NaN/);
      expect(opt.step).toBe(1);
      expect(opt.hyper.lr).toBe(1e-3);
      for (const [name, p] of await model.params.state()) expect(p.data, name).toEqual(params.get(name)!.data);
      for (const [name, m] of await opt.state()) {
        expect(m.m, `m of ${name}`).toEqual(moments.get(name)!.m);
        expect(m.v, `v of ${name}`).toEqual(moments.get(name)!.v);
      }
      // And the next good step goes on as step 2.
      expect((await trainStep(model, opt, good)).nonFinite).toBeNull();
      expect(opt.step).toBe(2);
    } finally {
      good.release();
      bad.release();
      opt.release();
      model.params.release();
    }
  });
});
