// `coca train --arch prefix --encoder CKPT`: the options checked (one line each), the encoder
// resolved from a checkpoint or run folder, the run trained (src/train/prefix-trainer.ts).
import fs from 'node:fs';
import path from 'node:path';
import { Gpu } from '../gpu/gpu.ts';
import { resolveCheckpointDir } from '../infer/load.ts';
import { checkEncoderFolder } from '../model/captioners/prefix-checkpoint.ts';
import { loadPrefixConfig, PREFIX_PRESETS } from '../model/captioners/prefix-config.ts';
import { DEFAULT_ADAMW } from '../train/adamw.ts';
import { trainPrefix } from '../train/prefix-trainer.ts';
import { checkRunFolder } from '../train/trainer.ts';
import { CocaError } from '../util/errors.ts';
import { checkInt, checkNumber } from './numbers.ts';
import type { LstmTrainArgs } from './train-arch.ts';

/** What --help says of --encoder. */
export const ENCODER_HELP =
  "--arch prefix: the coca checkpoint (or run folder: its checkpoints/last) whose image tower the prefix captioner reads, frozen (no gradient, no optimizer state, batch norm on its running statistics); its weights, config and preprocessing are copied into the new model [default: none; required with --arch prefix]";

/** The options of `coca train` a prefix run has no use for, and why. */
const NOT_FOR_PREFIX: Record<string, string> = {
  'caption-weight': 'its only loss is the caption loss',
  'contrastive-weight': 'it has no contrastive loss',
  init: 'it starts from its own initialisation over the --encoder tower',
  'lock-image': 'its image tower is always frozen',
  'grad-accum': 'it takes one batch per step',
  'contrastive-batch': 'it has no contrastive loss',
  'micro-batch': 'it has no contrastive loss',
  'shuffle-buffer': 'it does not stream shards',
  'caption-field': 'it does not stream shards',
  override: 'it cannot be resumed yet',
  'save-every': 'it writes last at the end and a checkpoint every --val-every steps',
  'image-mean': 'the frozen tower reads pictures as its checkpoint records (the preprocessing it was trained with)',
  'image-std': 'the frozen tower reads pictures as its checkpoint records (the preprocessing it was trained with)',
  'image-resize-mode': 'the frozen tower reads pictures as its checkpoint records (the preprocessing it was trained with)',
};

export interface PrefixTrainArgs extends LstmTrainArgs {
  encoder?: string;
}

function stamp(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
}

/** --encoder as a checkpoint folder: a run folder gives its checkpoints/last (or newest). */
function encoderDir(arg: string | undefined): string {
  if (!arg) throw new CocaError('--arch prefix needs --encoder CKPT: a coca checkpoint or run folder whose image tower it freezes (train one first: coca train --steps 300)');
  if (!fs.existsSync(arg)) throw new CocaError(`--encoder ${arg}: no such file or folder; give a coca checkpoint or run folder`);
  if (!fs.statSync(arg).isDirectory()) throw new CocaError(`--encoder ${arg}: a file, not a checkpoint folder; give the folder coca train wrote (a run folder or one of its checkpoints)`);
  let dir: string;
  try {
    dir = resolveCheckpointDir(arg);
  } catch {
    throw new CocaError(`--encoder ${arg}: not a coca checkpoint (no config.json and model.safetensors in it or under it); give a checkpoint or run folder written by coca train`);
  }
  checkEncoderFolder(dir);
  return dir;
}

export async function trainPrefixCommand(a: PrefixTrainArgs, defaults: { data: string; steps: number; batch: number; lr: number; clip: number; seed: number; valEvery: number; keep: number }): Promise<void> {
  for (const [opt, why] of Object.entries(NOT_FOR_PREFIX)) {
    const v = a[opt];
    if (v !== undefined && v !== false && !(Array.isArray(v) && v.length === 0)) throw new CocaError(`--${opt} does not apply to --arch prefix: ${why}; drop it`);
  }
  if (a['precision'] !== undefined && a['precision'] !== 'f32') throw new CocaError(`--precision ${String(a['precision'])} does not apply to --arch prefix: it trains in f32; drop it`);
  if (a['on-nan'] === 'skip') throw new CocaError('--on-nan skip does not apply to --arch prefix: its runs stop on a non-finite loss; drop it');
  if (a.preset && a.config) throw new CocaError('give --preset or --config, not both');
  if (a.preset && !(PREFIX_PRESETS as readonly string[]).includes(a.preset)) throw new CocaError(`--preset ${a.preset}: --arch prefix has the presets ${PREFIX_PRESETS.join(', ')}; give one of them or --config FILE`);
  const encoder = encoderDir(a.encoder);
  const configName = a.config ?? a.preset ?? 'nano';
  const config = loadPrefixConfig(configName);
  const steps = a.steps ?? defaults.steps;
  const o = {
    config,
    configName,
    encoder,
    data: a.data ?? defaults.data,
    out: a.out ?? path.join('runs', `prefix-${path.basename(configName, '.json')}-${stamp()}`),
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
    strict: a.strict,
    progress: true,
  };
  checkInt('steps', o.steps, 1);
  checkInt('batch', o.batch, 1);
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
    const r = await trainPrefix(gpu, o);
    const v = r.validation;
    console.log(
      `done: ${r.steps} steps in ${r.seconds.toFixed(1)} s; last loss ${r.last?.total.toFixed(4) ?? '–'}` +
        (v ? `; validation caption loss ${v.caption.toFixed(4)} (${v.items} pairs)` : '') +
        `\n  checkpoint: ${path.join(r.out, 'checkpoints', 'last')}`,
    );
  } finally {
    gpu.destroy();
  }
}
