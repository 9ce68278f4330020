// The logit-scale clamp driven to both bounds: a stored scale above ln 100 or below 0 is read by
// the loss as the bound, and the training step writes the bound back (open_clip clamps the
// parameter after every update). The 3 parity steps only move it 2.659 → 2.657, far from both.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { CocaModel, type PreparedInputs } from '../../src/model/coca.ts';
import { parseConfig } from '../../src/model/config.ts';
import { computeLoss, LOGIT_SCALE_MAX, setLogitScale } from '../../src/model/loss.ts';
import { AdamW } from '../../src/train/adamw.ts';
import { syntheticBatch, trainStep } from '../../src/train/step.ts';
import { Rng } from '../../src/util/prng.ts';
import { testGpu } from '../helpers/gpu.ts';

let gpu: Gpu;
let model: CocaModel;
let inp: PreparedInputs;
beforeAll(async () => {
  gpu = await testGpu();
  const config = parseConfig(JSON.parse(fs.readFileSync(path.join(import.meta.dirname, '..', 'fixtures', 'parity_micro.json'), 'utf8')));
  model = CocaModel.init(gpu, config, 3);
  inp = model.prepare(syntheticBatch(model, 3, new Rng(1)));
});
afterAll(() => {
  inp?.release();
  model?.params.release();
  gpu?.pool.trim();
});

const stored = async () => (await model.params.get('logit_scale').toArray())[0]!;
const contrastiveAt = async (s: number) => {
  setLogitScale(model, s);
  return (await computeLoss(model, inp)).parts.contrastive;
};

describe('logit-scale clamp', () => {
  it('the loss reads a scale above ln 100 as ln 100 and one below 0 as 0', async () => {
    const atMax = await contrastiveAt(LOGIT_SCALE_MAX);
    const atZero = await contrastiveAt(0);
    // Not vacuous: the two bounds give different losses.
    expect(Math.abs(atMax - atZero)).toBeGreaterThan(0.1);
    expect(await contrastiveAt(7)).toBeCloseTo(atMax, 5);
    expect(await contrastiveAt(-2)).toBe(atZero);
    expect(await contrastiveAt(3)).not.toBeCloseTo(atMax, 2);
  });

  it('a training step writes the bound back into the parameter, at both ends', async () => {
    const opt = new AdamW(gpu, model.params, { lr: 0, beta1: 0.9, beta2: 0.98, eps: 1e-6, weightDecay: 0.1 });
    try {
      for (const [s, bound] of [
        [7, LOGIT_SCALE_MAX],
        [-2, 0],
      ] as const) {
        setLogitScale(model, s);
        const r = await trainStep(model, opt, inp, { lr: 0 });
        // The step reports the float32 value the GPU clamped to and the loss used.
        expect(r.logitScale).toBe(Math.fround(bound));
        expect(await stored()).toBe(Math.fround(bound));
      }
      // Inside the range the step leaves it alone (lr 0).
      setLogitScale(model, 2.5);
      await trainStep(model, opt, inp, { lr: 0 });
      expect(await stored()).toBe(2.5);
    } finally {
      opt.release();
    }
  });
});
