// `coca train --arch prefix --encoder CKPT`: the options checked (one line each), the encoder
// resolved from a checkpoint or run folder, the run trained (src/train/prefix-trainer.ts).
import fs from 'node:fs';
import path from 'node:path';
import { Gpu } from '../gpu/gpu.ts';
import { resolveCheckpointDir } from '../infer/load.ts';
import { checkEncoderFolder } from '../model/captioners/prefix-checkpoint.ts';
import { loadPrefixConfig, PREFIX_PRESETS } from '../model/captioners/prefix-config.ts';
import { trainPrefix } from '../train/prefix-trainer.ts';
import { CocaError } from '../util/errors.ts';
import { archRunOptions, checkNewRunFolder, NOT_FOR_ANY_ARCH, refuseOptions, type ArchDefaults } from './arch-run-options.ts';
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
  override: 'it cannot be resumed yet',
  'image-mean': 'the frozen tower reads pictures as its checkpoint records (the preprocessing it was trained with)',
  'image-std': 'the frozen tower reads pictures as its checkpoint records (the preprocessing it was trained with)',
  'image-resize-mode': 'the frozen tower reads pictures as its checkpoint records (the preprocessing it was trained with)',
  ...NOT_FOR_ANY_ARCH,
};

export interface PrefixTrainArgs extends LstmTrainArgs {
  encoder?: string;
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

export async function trainPrefixCommand(a: PrefixTrainArgs, defaults: ArchDefaults): Promise<void> {
  refuseOptions('prefix', a, NOT_FOR_PREFIX);
  if (a.preset && a.config) throw new CocaError('give --preset or --config, not both');
  if (a.preset && !(PREFIX_PRESETS as readonly string[]).includes(a.preset)) throw new CocaError(`--preset ${a.preset}: --arch prefix has the presets ${PREFIX_PRESETS.join(', ')}; give one of them or --config FILE`);
  const encoder = encoderDir(a.encoder);
  const configName = a.config ?? a.preset ?? 'nano';
  const config = loadPrefixConfig(configName);
  const o = { config, configName, encoder, ...archRunOptions(a, defaults, `prefix-${path.basename(configName, '.json')}`, 1) };
  checkNewRunFolder(o);
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
