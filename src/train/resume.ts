// What `coca train --resume` continues: the run's own recorded configuration (run.json), so a
// resumed run is the run it was. An option given again with the same value is fine; one that
// contradicts the record is refused unless --override names it; the model and the data of a run
// never change (its weights and its place in the data belong to them).
import fs from 'node:fs';
import path from 'node:path';
import type { CocaConfig } from '../model/config.ts';
import { TrainError, type TrainOptions } from './trainer.ts';

/** The part of TrainOptions that run.json records and a resume takes back. */
export type RecordedOptions = Omit<TrainOptions, 'out' | 'resume' | 'progress' | 'stopAfter'>;

interface Setting {
  get(o: RecordedOptions): unknown;
  set(o: RecordedOptions, v: unknown): void;
  /** Why it cannot be overridden, where it cannot. */
  fixed?: string;
  /** A run may have left it unset (the default was taken). */
  optional?: boolean;
  /** Changes nothing the run computes: taken as given, without --override. */
  free?: boolean;
}

const field = <K extends keyof RecordedOptions>(k: K): Setting => ({
  get: (o) => o[k],
  set: (o, v) => {
    o[k] = v as RecordedOptions[K];
  },
});

const PREPROCESSING_FIXED = "the preprocessing is the model's (recorded in its config.json); start a new run with --out";

/** Command-line option → the recorded setting it sets. */
export const RESUMABLE: Record<string, Setting> = {
  preset: { ...field('configName'), fixed: 'the model of a run cannot change; start a new run with --out' },
  config: { ...field('configName'), fixed: 'the model of a run cannot change; start a new run with --out' },
  init: { ...field('init'), optional: true, fixed: 'the weights a run started from cannot change; start a new run with --out' },
  data: { ...field('data'), fixed: "the data of a run cannot change (its place in the data is part of the checkpoint); start a new run with --out" },
  steps: field('steps'),
  batch: field('batch'),
  lr: field('lr'),
  warmup: field('warmup'),
  'weight-decay': field('weightDecay'),
  clip: field('clip'),
  'caption-weight': { get: (o) => o.weights.caption, set: (o, v) => (o.weights = { ...o.weights, caption: v as number }) },
  'contrastive-weight': { get: (o) => o.weights.contrastive, set: (o, v) => (o.weights = { ...o.weights, contrastive: v as number }) },
  seed: field('seed'),
  'val-every': field('valEvery'),
  keep: field('keep'),
  'on-nan': field('onNonFinite'),
  'image-mean': { get: (o) => o.preprocess?.mean, set: () => {}, fixed: PREPROCESSING_FIXED, optional: true },
  'image-std': { get: (o) => o.preprocess?.std, set: () => {}, fixed: PREPROCESSING_FIXED, optional: true },
  'image-resize-mode': { get: (o) => o.preprocess?.resizeMode, set: () => {}, fixed: PREPROCESSING_FIXED, optional: true },
  'grad-accum': { ...field('gradAccum'), optional: true },
  // --contrastive-batch N is the run's batch (cli/train.ts passes it as batch).
  'micro-batch': { ...field('microBatch'), optional: true },
  'lock-image': { ...field('lockImage'), optional: true },
  'shuffle-buffer': { ...field('shuffleBuffer'), optional: true, fixed: "the shuffle buffer decides the run's place in the shards; start a new run with --out" },
  'caption-field': { ...field('captionField'), optional: true, fixed: 'the data of a run cannot change; start a new run with --out' },
  // A run recorded before --precision existed trained in f32; changing it needs --override.
  precision: { ...field('precision'), optional: true },
  // Runs recorded before --augment had none: '' and absent are one setting.
  augment: { get: (o) => o.augment ?? '', set: (o, v) => (o.augment = (v as string) || undefined), optional: true },
  // Runs recorded before these options existed (or without them) trained with today's loss.
  'contrastive-positives': { get: (o) => o.contrastivePositives ?? 'none', set: (o, v) => (o.contrastivePositives = v as RecordedOptions['contrastivePositives']), optional: true },
  'label-smoothing': { get: (o) => o.labelSmoothing ?? 0, set: (o, v) => (o.labelSmoothing = v as number), optional: true },
  // Runs recorded before --ema had none: 0 and absent are one setting.
  ema: { get: (o) => o.ema ?? 0, set: (o, v) => (o.ema = (v as number) || undefined), optional: true },
  // How often `last` is written changes nothing the run computes: a resume may change it freely.
  'save-every': { ...field('saveEvery'), free: true, optional: true },
};

/** The run folder a --resume argument belongs to: the folder itself, or the run holding the checkpoint it names. */
export function runOf(arg: string): string {
  if (!fs.existsSync(arg)) throw new TrainError(`--resume ${arg}: no such folder; give a run folder written by coca train`);
  if (fs.existsSync(path.join(arg, 'run.json'))) return arg;
  const up = path.dirname(path.dirname(path.resolve(arg)));
  if (path.basename(path.dirname(path.resolve(arg))) === 'checkpoints' && fs.existsSync(path.join(up, 'run.json'))) return path.relative(process.cwd(), up) || '.';
  throw new TrainError(`--resume ${arg}: not a run folder (no run.json) nor a checkpoint inside one; give a folder written by coca train`);
}

export function readRunRecord(run: string): RecordedOptions {
  const file = path.join(run, 'run.json');
  let r: RecordedOptions & { config?: CocaConfig };
  try {
    r = JSON.parse(fs.readFileSync(file, 'utf8')) as RecordedOptions;
  } catch (e) {
    throw new TrainError(`${file}: cannot read the run's record (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); the run cannot be resumed`);
  }
  for (const [k, s] of Object.entries(RESUMABLE)) {
    if (s.get(r) === undefined && !s.optional) throw new TrainError(`${file} records no ${k}; the run cannot be resumed as it was`);
  }
  if (!r.config) throw new TrainError(`${file} records no model config; the run cannot be resumed`);
  return { ...r, weights: { ...r.weights } };
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

/**
 * The options of a resumed run: its record, with the options given on the command line that agree
 * with it, or that --override names. `given` holds only the options the user typed.
 */
export function resumeOptions(run: string, given: Record<string, unknown>, overrides: readonly string[]): RecordedOptions {
  const o = readRunRecord(run);
  for (const name of overrides) {
    if (!(name in RESUMABLE)) throw new TrainError(`--override ${name}: not an option of coca train a resume can change (one of: ${Object.keys(RESUMABLE).filter((k) => !RESUMABLE[k]!.fixed && !RESUMABLE[k]!.free).join(', ')})`);
    if (RESUMABLE[name]!.fixed) throw new TrainError(`--override ${name}: ${RESUMABLE[name]!.fixed}`);
    if (given[name] === undefined) throw new TrainError(`--override ${name} names an option not given; add --${name} VALUE`);
  }
  for (const [name, value] of Object.entries(given)) {
    const s = RESUMABLE[name];
    if (!s || value === undefined) continue;
    const recorded = s.get(o);
    if (same(recorded, value)) continue;
    if (s.free) {
      s.set(o, value);
      continue;
    }
    if (s.fixed) throw new TrainError(`--${name} ${value} contradicts the run's ${JSON.stringify(recorded)} (${path.join(run, 'run.json')}): ${s.fixed}`);
    if (!overrides.includes(name)) {
      throw new TrainError(`--${name} ${value} contradicts the run's ${JSON.stringify(recorded)} (${path.join(run, 'run.json')}); drop it to continue the run as it was, or add --override ${name} to change it`);
    }
    s.set(o, value);
  }
  return o;
}
