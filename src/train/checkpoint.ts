// Checkpoints: a folder other tools can read. model.safetensors (parameters by open_clip name),
// config.json (the resolved config), tokenizer.json (Hugging Face format) when there is one, and
// for training runs optimizer.safetensors (AdamW moments) and state.json (step, RNG, data
// position). Every file is written to a temporary name and renamed, so an interrupted write
// leaves the previous checkpoint whole.
import fs from 'node:fs';
import path from 'node:path';
import type { Gpu } from '../gpu/gpu.ts';
import { CocaError } from '../util/errors.ts';
import { CocaModel } from '../model/coca.ts';
import { parseConfig, type CocaConfig } from '../model/config.ts';
import { parameterShapes } from '../model/shapes.ts';
import { LOGIT_SCALE_MAX } from '../model/loss.ts';
import { readSafetensors, writeSafetensors, type TensorIn } from '../model/safetensors.ts';
import { ParamStore, type HostTensor } from '../nn/params.ts';
import { Rng } from '../util/prng.ts';
import type { AdamW } from './adamw.ts';

export class CheckpointError extends CocaError {
  override name = 'CheckpointError';
}

function writeAtomic(file: string, text: string): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    fs.writeFileSync(tmp, text);
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw new CheckpointError(`${file}: cannot write (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); the previous file is untouched`);
  }
}

export interface SaveOptions {
  /** tokenizer.json contents to store beside the model. */
  tokenizerJson?: string;
  optimizer?: AdamW;
  /** Training state (step, RNG, data position...), stored as state.json. */
  state?: Record<string, unknown>;
}

export async function saveCheckpoint(dir: string, model: CocaModel, opts: SaveOptions = {}): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  const tensors = new Map<string, TensorIn>();
  for (const [name, t] of await model.params.state()) {
    // The logit scale is clamped where it is read; store the value the model uses.
    const data = name === 'logit_scale' ? Float32Array.from(t.data, (x) => Math.min(Math.max(x, 0), LOGIT_SCALE_MAX)) : t.data;
    tensors.set(name, { shape: t.shape, data });
  }
  writeSafetensors(path.join(dir, 'model.safetensors'), tensors, { format: 'coca-1', config: JSON.stringify(model.config) });
  writeAtomic(path.join(dir, 'config.json'), JSON.stringify(model.config, null, 2) + '\n');
  if (opts.tokenizerJson) writeAtomic(path.join(dir, 'tokenizer.json'), opts.tokenizerJson);
  if (opts.optimizer) {
    const moments = new Map<string, TensorIn>();
    for (const [name, s] of await opts.optimizer.state()) {
      const shape = model.params.get(name).shape;
      moments.set(`m.${name}`, { shape, data: s.m });
      moments.set(`v.${name}`, { shape, data: s.v });
    }
    writeSafetensors(path.join(dir, 'optimizer.safetensors'), moments, { step: String(opts.optimizer.step), hyper: JSON.stringify(opts.optimizer.hyper) });
  }
  if (opts.state) writeAtomic(path.join(dir, 'state.json'), JSON.stringify(opts.state, null, 2) + '\n');
}

export function readCheckpointConfig(dir: string): CocaConfig {
  const file = path.join(dir, 'config.json');
  if (!fs.existsSync(file)) throw new CheckpointError(`${dir} is not a coca checkpoint (no config.json); give a folder written by coca train`);
  return parseConfig(JSON.parse(fs.readFileSync(file, 'utf8')), file);
}

function readParams(dir: string): Map<string, HostTensor> {
  const file = path.join(dir, 'model.safetensors');
  if (!fs.existsSync(file)) throw new CheckpointError(`${dir} has no model.safetensors; the checkpoint is incomplete`);
  const out = new Map<string, HostTensor>();
  for (const [name, t] of readSafetensors(file).tensors) {
    if (!(t.data instanceof Float32Array)) throw new CheckpointError(`${file}: tensor "${name}" is ${t.dtype}, expected F32`);
    out.set(name, { shape: t.shape, data: t.data });
  }
  return out;
}

/** Loads the checkpoint's parameters into `model` (whose config must match, tensor by tensor). */
export function loadParamsInto(dir: string, model: CocaModel): void {
  model.params.load(readParams(dir));
}

/** A model built from the checkpoint's own config, with its parameters. */
export function loadCheckpoint(gpu: Gpu, dir: string): CocaModel {
  const config = readCheckpointConfig(dir);
  const model = new CocaModel(gpu, config, ParamStore.create(gpu, parameterShapes(config), new Rng(0)));
  loadParamsInto(dir, model);
  return model;
}

/** Restores AdamW's step and moments from optimizer.safetensors. */
export function loadOptimizerInto(dir: string, opt: AdamW): void {
  const f = readSafetensors(path.join(dir, 'optimizer.safetensors'));
  const moments = new Map<string, { m: Float32Array; v: Float32Array }>();
  for (const [key, t] of f.tensors) {
    const [kind, ...rest] = key.split('.');
    const name = rest.join('.');
    const e = moments.get(name) ?? { m: new Float32Array(0), v: new Float32Array(0) };
    e[kind as 'm' | 'v'] = t.data as Float32Array;
    moments.set(name, e);
  }
  opt.load(Number(f.metadata?.step ?? 0), moments);
}
