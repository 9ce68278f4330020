// What `coca train --arch showtell|sat|prefix|devise` share: CoCa's options each of them refuses
// (one line saying why), the schedule, optimiser and bookkeeping options with their defaults, and
// their range checks, all before the GPU opens. CoCa's own run (train.ts) has more of each.
import fs from 'node:fs';
import path from 'node:path';
import { DEFAULT_ADAMW } from '../train/adamw.ts';
import type { RunOptions } from '../train/run-options.ts';
import { checkRunFolder } from '../train/trainer.ts';
import { CocaError } from '../util/errors.ts';
import { checkInt, checkNumber } from './numbers.ts';

/** The defaults `coca train` gives every architecture. */
export interface ArchDefaults {
  data: string;
  steps: number;
  batch: number;
  lr: number;
  clip: number;
  seed: number;
  valEvery: number;
  keep: number;
}

/** The options every run of these architectures takes (src/train/run-options.ts). */
export type ArchRunOptions = RunOptions;

/** CoCa's options that no other architecture has a use for, and why. */
export const NOT_FOR_ANY_ARCH: Record<string, string> = {
  'grad-accum': 'it takes one batch per step',
  'contrastive-batch': 'it has no contrastive loss',
  'micro-batch': 'it has no contrastive loss',
  'shuffle-buffer': 'it does not stream shards',
  'caption-field': 'it does not stream shards',
  'save-every': 'it writes last at the end and a checkpoint every --val-every steps',
  augment: 'its loader draws the crop and flip only (coca runs take --augment)',
  'contrastive-positives': 'it has no contrastive loss',
  'label-smoothing': "label smoothing is in CoCa's caption loss only",
  ema: 'its trainer keeps no weight average (coca runs take --ema)',
};

/** One line for the first option in `notFor` that was given; likewise --precision other than f32 and --on-nan skip. */
export function refuseOptions(arch: string, a: Record<string, unknown>, notFor: Record<string, string>): void {
  for (const [opt, why] of Object.entries(notFor)) {
    const v = a[opt];
    if (v !== undefined && v !== false && !(Array.isArray(v) && v.length === 0)) throw new CocaError(`--${opt} does not apply to --arch ${arch}: ${why}; drop it`);
  }
  if (a['precision'] !== undefined && a['precision'] !== 'f32') throw new CocaError(`--precision ${String(a['precision'])} does not apply to --arch ${arch}: it trains in f32; drop it`);
  if (a['on-nan'] === 'skip') throw new CocaError(`--on-nan skip does not apply to --arch ${arch}: its runs stop on a non-finite loss; drop it`);
}

/** A run folder's default name: `name`-yyyymmdd-hhmmss under runs/. */
export function defaultRunFolder(name: string): string {
  return path.join('runs', `${name}-${new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15)}`);
}

/** The run's options as typed, defaults filled in (`name` the default run folder's prefix), each checked. */
export function archRunOptions(a: Record<string, unknown>, defaults: ArchDefaults, name: string, minBatch: number): ArchRunOptions {
  const steps = (a['steps'] as number | undefined) ?? defaults.steps;
  const o: ArchRunOptions = {
    data: (a['data'] as string | undefined) ?? defaults.data,
    out: (a['out'] as string | undefined) ?? defaultRunFolder(name),
    steps,
    batch: (a['batch'] as number | undefined) ?? defaults.batch,
    lr: (a['lr'] as number | undefined) ?? defaults.lr,
    warmup: (a['warmup'] as number | undefined) ?? Math.max(1, Math.round(steps * 0.05)),
    weightDecay: (a['weight-decay'] as number | undefined) ?? DEFAULT_ADAMW.weightDecay,
    beta1: DEFAULT_ADAMW.beta1,
    beta2: DEFAULT_ADAMW.beta2,
    eps: DEFAULT_ADAMW.eps,
    clip: (a['clip'] as number | undefined) ?? defaults.clip,
    seed: (a['seed'] as number | undefined) ?? defaults.seed,
    valEvery: (a['val-every'] as number | undefined) ?? defaults.valEvery,
    keep: (a['keep'] as number | undefined) ?? defaults.keep,
    strict: Boolean(a['strict']),
    progress: true,
  };
  checkRunNumbers(o, minBatch);
  return o;
}

/** A run's numbers, typed or recorded, each in its range. `minBatch`: 2 where batch norm trains (its statistics need two rows). */
export function checkRunNumbers(o: Pick<ArchRunOptions, 'steps' | 'batch' | 'valEvery' | 'warmup' | 'keep' | 'seed' | 'lr' | 'clip' | 'weightDecay'>, minBatch: number): void {
  checkInt('steps', o.steps, 1);
  checkInt('batch', o.batch, minBatch);
  checkInt('val-every', o.valEvery, 1);
  checkInt('warmup', o.warmup, 0, o.steps);
  checkInt('keep', o.keep, 0);
  checkInt('seed', o.seed, 0);
  checkNumber('lr', o.lr, { above: 0, max: 1, about: 'the peak AdamW step, e.g. 1e-3' });
  checkNumber('clip', o.clip, { above: 0, about: 'the largest global gradient norm kept' });
  checkNumber('weight-decay', o.weightDecay, { min: 0, max: 1 / o.lr, about: 'each step shrinks weights by lr × weight decay, which must stay below 1' });
}

/** --out is free for a new run (checkRunFolder's checks, and no run.json); `resumable`: the refusal says --resume continues it. */
export function checkNewRunFolder(o: Pick<ArchRunOptions, 'out' | 'data'>, resumable = false): void {
  checkRunFolder(o.out, o.data);
  if (fs.existsSync(path.join(o.out, 'run.json'))) throw new CocaError(`${o.out} already holds a run; pick another --out${resumable ? `, or --resume ${o.out} to continue it` : ''}`);
}
