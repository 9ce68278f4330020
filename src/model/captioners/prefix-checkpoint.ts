// The prefix captioner's two kinds of folder: the coca checkpoint whose image tower it freezes
// (read once, when training starts: --encoder) and its own checkpoint, which carries that tower's
// weights and config in itself, so eval, caption and serve need nothing else.
import fs from 'node:fs';
import path from 'node:path';
import type { HostTensor } from '../../nn/params.ts';
import { checkpointArch } from '../arch.ts';
import { readManifest, sha256File, verifyCheckpoint } from '../checkpoint-folder.ts';
import { checkpointParams } from '../checkpoint-params.ts';
import { readCheckpointConfig } from '../checkpoint.ts';
import type { CocaConfig } from '../config-schema.ts';
import { withPreprocess } from '../config-schema.ts';
import { CheckpointError } from '../errors.ts';
import { checkpointPreprocess } from '../preprocess.ts';
import { readSafetensors } from '../safetensors.ts';
import type { EncoderRecord } from './prefix-config.ts';
import { towerSpecs } from './prefix.ts';

export interface FrozenEncoder {
  record: EncoderRecord;
  /** The tower's weights (visual.*), by name. */
  tower: Map<string, HostTensor>;
}

/** Refuses, in one line, a folder that is not a coca model's checkpoint (before any GPU work). */
export function checkEncoderFolder(dir: string, option = '--encoder'): void {
  if (!fs.existsSync(path.join(dir, 'config.json')) || !fs.existsSync(path.join(dir, 'model.safetensors'))) {
    throw new CheckpointError(`${option} ${dir}: not a coca checkpoint (no config.json and model.safetensors); give a checkpoint or run folder written by coca train`);
  }
  const arch = checkpointArch(dir);
  if (arch !== 'coca') throw new CheckpointError(`${option} ${dir}: it holds a ${arch} model; the prefix captioner reads the image tower of a coca model: give a checkpoint of coca train without --arch (or --arch coca)`);
}

/**
 * The coca checkpoint folder `dir` (resolved from --encoder) as a frozen encoder: its config with
 * the preprocessing it was trained with filled in, its visual.* weights, and its checksum. Anything
 * else (not a checkpoint, not coca's, damaged) is one line saying what to give instead.
 */
export function readFrozenEncoder(dir: string, option = '--encoder'): FrozenEncoder {
  checkEncoderFolder(dir, option);
  verifyCheckpoint(dir);
  let config: CocaConfig = readCheckpointConfig(dir);
  config = withPreprocess(config, checkpointPreprocess(dir, config));
  const file = path.join(dir, 'model.safetensors');
  const all = checkpointParams(readSafetensors(file), file);
  const tower = new Map<string, HostTensor>();
  for (const s of towerSpecs(config)) {
    const t = all.get(s.name);
    if (!t) throw new CheckpointError(`${option} ${dir}: its model.safetensors has no "${s.name}"; the checkpoint does not match its config.json: use another one`);
    tower.set(s.name, t);
  }
  const sha256 = readManifest(dir)?.files.find((f) => f.file === 'model.safetensors')?.sha256 ?? sha256File(file);
  return { record: { source: path.resolve(dir), sha256, feature: 'contrastive', config }, tower };
}
