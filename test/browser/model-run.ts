// One fixed run of the model, written once for both hosts: the Node test calls it on Dawn, the
// page (model.page.ts) in a tab, and model.browser.ts compares the two. A model initialised from a
// seed (the parameters are drawn on the CPU, so both hosts start from the same bits), a synthetic
// batch from a seed or a real one given, the loss, a few training steps, the loss again and every parameter after.
import type { Gpu } from '../../src/gpu/gpu.ts';
import { CocaModel } from '../../src/model/coca.ts';
import type { CocaConfig } from '../../src/model/config.ts';
import { computeLoss } from '../../src/model/loss.ts';
import { AdamW } from '../../src/train/adamw.ts';
import { syntheticBatch, trainStep } from '../../src/train/step.ts';
import { Rng } from '../../src/util/prng.ts';

export interface ModelRunOptions {
  config: CocaConfig;
  seed: number;
  batchSeed: number;
  batch: number;
  steps: number;
  lr: number;
  /** A real batch ([batch, 3, S, S] normalised pictures, [batch, L] token ids) instead of a synthetic one from batchSeed. */
  inputs?: { images: number[]; text: number[] };
}

export interface Losses {
  contrastive: number;
  caption: number;
  total: number;
}

export interface ModelRun {
  before: Losses;
  steps: (Losses & { gradNorm: number; nonFinite: string | null })[];
  after: Losses;
  /** Every parameter after the steps, by open_clip name. */
  params: Record<string, number[]>;
}

export async function runModel(gpu: Gpu, o: ModelRunOptions): Promise<ModelRun> {
  const model = CocaModel.init(gpu, o.config, o.seed);
  const opt = new AdamW(gpu, model.params, { lr: o.lr });
  const batch = o.inputs ? { images: Float32Array.from(o.inputs.images), text: Int32Array.from(o.inputs.text), batch: o.batch } : syntheticBatch(model, o.batch, new Rng(o.batchSeed));
  const inp = model.prepare(batch);
  const losses = (p: Losses): Losses => ({ contrastive: p.contrastive, caption: p.caption, total: p.total });
  try {
    const before = losses((await computeLoss(model, inp)).parts);
    const steps: ModelRun['steps'] = [];
    for (let s = 0; s < o.steps; s++) {
      const r = await trainStep(model, opt, inp);
      steps.push({ ...losses(r), gradNorm: r.gradNorm, nonFinite: r.nonFinite });
    }
    const after = losses((await computeLoss(model, inp)).parts);
    const params: Record<string, number[]> = {};
    for (const [name, t] of await model.params.state()) params[name] = Array.from(t.data);
    return { before, steps, after, params };
  } finally {
    inp.release();
    opt.release();
    model.params.release();
  }
}
