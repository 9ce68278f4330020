// Opening a checkpoint of an LSTM captioner: the same folder as CoCa's (model.safetensors,
// config.json with "arch", tokenizer.json), verified the same way; the config and tokenizer are
// checked against each other in one line each.
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
import { lstmPreprocess, parseLstmConfig, type LstmConfig } from './config.ts';
import { LstmCaptioner, lstmParameterShapes } from './lstm.ts';

export interface OpenCaptioner {
  dir: string;
  model: LstmCaptioner;
  tokenizer: Tokenizer;
  pre: ImagePreprocess;
  release(): void;
}

export function readLstmConfig(dir: string): LstmConfig {
  const file = path.join(dir, 'config.json');
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new CheckpointError(`${file} is not readable JSON (${(e as Error).message}); the checkpoint is damaged: use another one`);
  }
  return parseLstmConfig(raw, file);
}

/** The model, tokenizer and preprocessing of an LSTM captioner's checkpoint folder. */
export function openCaptioner(gpu: Gpu, dir: string, notify: (line: string) => void = (l) => console.error(l)): OpenCaptioner {
  verifyCheckpoint(dir);
  const config = readLstmConfig(dir);
  const tokFile = path.join(dir, 'tokenizer.json');
  if (!fs.existsSync(tokFile)) throw new CheckpointError(`${dir} has no tokenizer.json; checkpoints written by 'coca train' carry one`);
  const tokenizer = Tokenizer.load(tokFile);
  if (tokenizer.vocabSize !== config.decoder_cfg.vocab_size) {
    throw new CheckpointError(`${tokFile} has a vocabulary of ${tokenizer.vocabSize} tokens but the model's is ${config.decoder_cfg.vocab_size}; it belongs to another model: use the tokenizer.json saved with this checkpoint`);
  }
  let pre = lstmPreprocess(config);
  if (!pre) {
    pre = defaultPreprocess(config.vision_cfg.image_size);
    notify(`coca: warning: ${dir} records no image preprocessing; assuming CLIP's (add vision_cfg.image_mean/image_std/image_resize_mode to its config.json)`);
  }
  const model = new LstmCaptioner(gpu, config, ParamStore.create(gpu, lstmParameterShapes(config), new Rng(0)));
  try {
    loadParamsInto(dir, model);
  } catch (e) {
    model.params.release();
    throw e;
  }
  return { dir, model, tokenizer, pre, release: () => model.params.release() };
}
