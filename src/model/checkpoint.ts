// The model's part of a checkpoint folder: model.safetensors (parameters by open_clip name),
// config.json (the resolved config) and tokenizer.json (Hugging Face format). Training adds its
// optimiser and run state (src/train/checkpoint.ts); inference and evaluation load only this part.
// Loading verifies the folder's manifest (checkpoint-folder.ts) and refuses weights holding NaN
// or Inf and a tokenizer whose vocabulary is not the model's, each in one line.
import fs from 'node:fs';
import path from 'node:path';
import { Tokenizer } from '../data/tokenizer.ts';
import type { Gpu } from '../gpu/gpu.ts';
import { ParamStore, type HostTensor } from '../nn/params.ts';
import { Rng } from '../util/prng.ts';
import { verifyCheckpoint } from './checkpoint-folder.ts';
import { CocaModel } from './coca.ts';
import { parseConfig, type CocaConfig } from './config.ts';
import { parameterShapes } from './shapes.ts';
import { CheckpointError } from './errors.ts';
import { archOfConfig, wrongArch } from './arch.ts';
import { checkpointParams } from './checkpoint-params.ts';
import { readSafetensors } from './safetensors.ts';

export function readCheckpointConfig(dir: string): CocaConfig {
  const file = path.join(dir, 'config.json');
  if (!fs.existsSync(file)) throw new CheckpointError(`${dir} is not a coca checkpoint (no config.json); give a folder written by coca train`);
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new CheckpointError(`${file} is not valid JSON (${(e as Error).message}); the checkpoint is damaged: use another one`);
  }
  const arch = archOfConfig(json, file);
  if (arch !== 'coca') throw wrongArch(dir, arch, 'this command', ['coca']);
  return parseConfig(json, file);
}

function readParams(dir: string): Map<string, HostTensor> {
  const file = path.join(dir, 'model.safetensors');
  if (!fs.existsSync(file)) throw new CheckpointError(`${dir} has no model.safetensors; the checkpoint is incomplete`);
  return checkpointParams(readSafetensors(file), file);
}

export type { StoredModel } from './checkpoint-files.ts';
import type { StoredModel } from './checkpoint-files.ts';

/** Loads the checkpoint's parameters into `model` (whose config must match, tensor by tensor). The caller verifies the folder. */
export function loadParamsInto(dir: string, model: StoredModel): void {
  model.params.load(readParams(dir));
}

/** A model built from the checkpoint's own config, with its parameters, after verifying the folder. */
export function loadCheckpoint(gpu: Gpu, dir: string): CocaModel {
  verifyCheckpoint(dir);
  const config = readCheckpointConfig(dir);
  const model = new CocaModel(gpu, config, ParamStore.create(gpu, parameterShapes(config), new Rng(0)));
  try {
    loadParamsInto(dir, model);
  } catch (e) {
    model.params.release();
    throw e;
  }
  return model;
}

/** Refuses a tokenizer whose vocabulary is not the model's (its ids would index other embeddings). */
export function checkTokenizerFits(tokenizer: Tokenizer, config: CocaConfig, where: string): void {
  const v = config.text_cfg.vocab_size;
  if (tokenizer.vocabSize !== v) {
    throw new CheckpointError(`${where} has a vocabulary of ${tokenizer.vocabSize} tokens but the model's is ${v}; it belongs to another model: use the tokenizer.json saved with this checkpoint`);
  }
}

/** The checkpoint's tokenizer.json, checked against its config; null when it has none. */
export function readCheckpointTokenizer(dir: string, config: CocaConfig): Tokenizer | null {
  const file = path.join(dir, 'tokenizer.json');
  if (!fs.existsSync(file)) return null;
  const tokenizer = Tokenizer.load(file);
  checkTokenizerFits(tokenizer, config, file);
  return tokenizer;
}

// The model's files as data (browser-safe), kept importable from here.
export { modelFiles } from './checkpoint-files.ts';
