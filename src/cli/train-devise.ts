// `coca train --arch devise`: the options checked in one line each before any GPU work, the run
// trained (src/train/devise-trainer.ts), a summary printed.
import fs from 'node:fs';
import path from 'node:path';
import type { Triple } from '../data/index.ts';
import { Gpu } from '../gpu/gpu.ts';
import { DEVISE_PRESETS, loadDeviseConfig } from '../model/devise-config.ts';
import { LABEL_VECTORS, LABEL_VECTORS_ABOUT, type LabelVectors } from '../model/devise-space.ts';
import { DEFAULT_ADAMW } from '../train/adamw.ts';
import { trainDevise } from '../train/devise-trainer.ts';
import { checkRunFolder } from '../train/trainer.ts';
import { CocaError } from '../util/errors.ts';
import type { LstmTrainArgs } from './train-arch.ts';
import { checkInt, checkNumber } from './numbers.ts';

export const DEFAULT_LABEL_VECTORS: LabelVectors = 'text';

/** `--label-vectors` as given: one of LABEL_VECTORS, or one line naming them. */
export function checkLabelVectors(v: unknown): LabelVectors {
  if (v === undefined) return DEFAULT_LABEL_VECTORS;
  if (typeof v === 'string' && (LABEL_VECTORS as readonly string[]).includes(v)) return v as LabelVectors;
  throw new CocaError(`--label-vectors ${String(v)}: no such kind; give ${LABEL_VECTORS.map((k) => `${k} (${LABEL_VECTORS_ABOUT[k]})`).join(' or ')}`);
}

/** The options of `coca train` a DeViSE run has no use for, and why. */
const NOT_FOR_DEVISE: Record<string, string> = {
  'caption-weight': 'its only loss is the hinge rank loss',
  'contrastive-weight': 'its only loss is the hinge rank loss',
  init: 'it starts from its own initialisation',
  'lock-image': 'its image tower is what it trains',
  'grad-accum': 'it takes one batch per step',
  'contrastive-batch': 'it has no contrastive loss',
  'micro-batch': 'it has no contrastive loss',
  'shuffle-buffer': 'it does not stream shards',
  'caption-field': 'it does not stream shards',
  override: 'it cannot be resumed',
  'save-every': 'it writes last at the end and a checkpoint every --val-every steps',
};

export async function trainDeviseCommand(a: LstmTrainArgs, defaults: { data: string; steps: number; batch: number; lr: number; clip: number; seed: number; valEvery: number; keep: number }): Promise<void> {
  for (const [opt, why] of Object.entries(NOT_FOR_DEVISE)) {
    const v = a[opt];
    if (v !== undefined && v !== false && !(Array.isArray(v) && v.length === 0)) throw new CocaError(`--${opt} does not apply to --arch devise: ${why}; drop it`);
  }
  if (a['precision'] !== undefined && a['precision'] !== 'f32') throw new CocaError(`--precision ${String(a['precision'])} does not apply to --arch devise: it trains in f32; drop it`);
  if (a['on-nan'] === 'skip') throw new CocaError('--on-nan skip does not apply to --arch devise: its runs stop on a non-finite loss; drop it');
  const labelVectors = checkLabelVectors(a['label-vectors']);
  if (a.preset) throw new CocaError(`--preset ${a.preset}: --arch devise has the CNN preset ${DEVISE_PRESETS.join(', ')}; give --config ${DEVISE_PRESETS[0]} (the default) or --config FILE`);
  const configName = a.config ?? DEVISE_PRESETS[0];
  const config = loadDeviseConfig(configName);
  const steps = a.steps ?? defaults.steps;
  const o = {
    config,
    configName,
    labelVectors,
    data: a.data ?? defaults.data,
    out: a.out ?? path.join('runs', `devise-${labelVectors}-${path.basename(configName, '.json')}-${new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15)}`),
    steps,
    batch: a.batch ?? defaults.batch,
    lr: a.lr ?? defaults.lr,
    warmup: a.warmup ?? Math.max(1, Math.round(steps * 0.05)),
    weightDecay: a['weight-decay'] ?? DEFAULT_ADAMW.weightDecay,
    beta1: DEFAULT_ADAMW.beta1,
    beta2: DEFAULT_ADAMW.beta2,
    eps: DEFAULT_ADAMW.eps,
    clip: a.clip ?? defaults.clip,
    seed: a.seed ?? defaults.seed,
    valEvery: a['val-every'] ?? defaults.valEvery,
    keep: a.keep ?? defaults.keep,
    preprocess: { mean: a['image-mean'] as Triple | undefined, std: a['image-std'] as Triple | undefined, resizeMode: a['image-resize-mode'] },
    strict: a.strict,
    progress: true,
  };
  checkInt('steps', o.steps, 1);
  checkInt('batch', o.batch, 2); // batch norm's training statistics need two rows
  checkInt('val-every', o.valEvery, 1);
  checkInt('warmup', o.warmup, 0, o.steps);
  checkInt('keep', o.keep, 0);
  checkInt('seed', o.seed, 0);
  checkNumber('lr', o.lr, { above: 0, max: 1, about: 'the peak AdamW step, e.g. 1e-3' });
  checkNumber('clip', o.clip, { above: 0, about: 'the largest global gradient norm kept' });
  checkNumber('weight-decay', o.weightDecay, { min: 0, max: 1 / o.lr, about: 'each step shrinks weights by lr × weight decay, which must stay below 1' });
  checkRunFolder(o.out, o.data);
  if (fs.existsSync(path.join(o.out, 'run.json'))) throw new CocaError(`${o.out} already holds a run; pick another --out`);
  const gpu = await Gpu.open();
  try {
    const r = await trainDevise(gpu, o);
    const v = r.validation;
    const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
    console.log(
      `done: ${r.steps} steps in ${r.seconds.toFixed(1)} s; last hinge loss ${r.last?.hinge.toFixed(4) ?? '–'} (first ${r.first?.hinge.toFixed(4) ?? '–'}, over ${r.labels} labels)` +
        (v ? `; validation hinge ${v.hinge.toFixed(4)}, flat hit@1 ${pct(v.hit1)}, hit@5 ${pct(v.hit5)} (${v.items} pictures, its own captions as labels)` : '') +
        `\n  checkpoint: ${path.join(r.out, 'checkpoints', 'last')} (coca eval for its zero-shot table, coca classify to rank labels)`,
    );
  } finally {
    gpu.destroy();
  }
}
