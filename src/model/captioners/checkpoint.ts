// Opening a checkpoint of a captioner that is not CoCa (an LSTM one, or the prefix captioner): the
// same folder as CoCa's (model.safetensors, config.json with "arch", tokenizer.json), verified the
// same way; the config and tokenizer are checked against each other in one line each.
import fs from 'node:fs';
import path from 'node:path';
import { defaultPreprocess, type ImagePreprocess } from '../../data/preprocess.ts';
import { Tokenizer } from '../../data/tokenizer.ts';
import type { Gpu } from '../../gpu/gpu.ts';
import { ParamStore } from '../../nn/params.ts';
import { Rng } from '../../util/prng.ts';
import { verifyCheckpoint } from '../checkpoint-folder.ts';
import { loadParamsInto } from '../checkpoint.ts';
import { CheckpointError } from '../errors.ts';
import type { Captioner } from './captioner.ts';
import { lstmPreprocess, parseLstmConfig, type LstmConfig } from './config.ts';
import { LstmCaptioner, lstmParameterShapes } from './lstm.ts';
import { PrefixCaptioner, prefixParameterShapes } from './prefix.ts';
import { parsePrefixConfig, prefixPreprocess } from './prefix-config.ts';

export interface OpenCaptioner {
  dir: string;
  model: Captioner;
  tokenizer: Tokenizer;
  pre: ImagePreprocess;
  release(): void;
}

function readConfigJson(dir: string): unknown {
  const file = path.join(dir, 'config.json');
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new CheckpointError(`${file} is not readable JSON (${(e as Error).message}); the checkpoint is damaged: use another one`);
  }
}

export function readLstmConfig(dir: string): LstmConfig {
  return parseLstmConfig(readConfigJson(dir), path.join(dir, 'config.json'));
}

/** The model, tokenizer and preprocessing of a captioner's checkpoint folder (LSTM or prefix). */
export function openCaptioner(gpu: Gpu, dir: string, notify: (line: string) => void = (l) => console.error(l)): OpenCaptioner {
  verifyCheckpoint(dir);
  const raw = readConfigJson(dir);
  const file = path.join(dir, 'config.json');
  const isPrefix = (raw as { arch?: unknown } | null)?.arch === 'prefix';
  const config = isPrefix ? parsePrefixConfig(raw, file) : parseLstmConfig(raw, file);
  if (config.arch === 'prefix' && !config.encoder) throw new CheckpointError(`${file} records no encoder (the frozen image tower); the checkpoint is incomplete: use one written by coca train --arch prefix`);
  const tokFile = path.join(dir, 'tokenizer.json');
  if (!fs.existsSync(tokFile)) throw new CheckpointError(`${dir} has no tokenizer.json; checkpoints written by 'coca train' carry one`);
  const tokenizer = Tokenizer.load(tokFile);
  if (tokenizer.vocabSize !== config.decoder_cfg.vocab_size) {
    throw new CheckpointError(`${tokFile} has a vocabulary of ${tokenizer.vocabSize} tokens but the model's is ${config.decoder_cfg.vocab_size}; it belongs to another model: use the tokenizer.json saved with this checkpoint`);
  }
  let pre = config.arch === 'prefix' ? prefixPreprocess(config) : lstmPreprocess(config);
  if (!pre) {
    const size = config.arch === 'prefix' ? config.encoder!.config.vision_cfg.image_size : config.vision_cfg.image_size;
    pre = defaultPreprocess(size);
    notify(`coca: warning: ${dir} records no image preprocessing; assuming CLIP's (add ${config.arch === 'prefix' ? 'encoder.config.' : ''}vision_cfg.image_mean/image_std/image_resize_mode to its config.json)`);
  }
  const model: Captioner =
    config.arch === 'prefix'
      ? new PrefixCaptioner(gpu, config, ParamStore.create(gpu, prefixParameterShapes(config), new Rng(0)))
      : new LstmCaptioner(gpu, config, ParamStore.create(gpu, lstmParameterShapes(config), new Rng(0)));
  try {
    loadParamsInto(dir, model);
  } catch (e) {
    model.params.release();
    throw e;
  }
  return { dir, model, tokenizer, pre, release: () => model.params.release() };
}
