// A training checkpoint: the model's files (src/model/checkpoint.ts) plus optimizer.safetensors
// (AdamW's step and moments) and state.json (step, data position, LR scale, best validation loss),
// written as one folder that is whole or absent (src/model/checkpoint-folder.ts). With a moving
// average of the weights (--ema), model.safetensors holds the average (what eval, caption, serve
// and export read) and raw.safetensors the weights training continues from.
import fs from 'node:fs';
import path from 'node:path';
import { recoverCheckpointFolders, readManifest, removeCheckpointFolder, writeCheckpointFolder, type CheckpointFile } from '../model/checkpoint-folder.ts';
import { modelFiles, type StoredModel } from '../model/checkpoint.ts';
import { checkpointParams } from '../model/checkpoint-params.ts';
import type { HostTensor } from '../nn/params.ts';
import type { WeightAverage } from './ema.ts';
import { CheckpointError } from '../model/errors.ts';
import { readSafetensors, type TensorIn } from '../model/safetensors.ts';
import type { AdamW } from './adamw.ts';

export interface SaveOptions {
  /** tokenizer.json contents to store beside the model. */
  tokenizerJson?: string;
  optimizer?: AdamW;
  /** Training state (step, RNG, data position...), stored as state.json. */
  state?: { step: number } & Record<string, unknown>;
  /** Files of the model's own beyond the weights (DeViSE's word vectors). */
  extraFiles?: readonly CheckpointFile[];
  /** The moving average of the weights: saved as model.safetensors, the weights as RAW_WEIGHTS. */
  average?: WeightAverage;
}

/** With --ema, the weights training continues from (model.safetensors holds their average). */
export const RAW_WEIGHTS = 'raw.safetensors';

export async function saveCheckpoint(dir: string, model: StoredModel, opts: SaveOptions = {}): Promise<void> {
  const files: CheckpointFile[] = [...(await modelFiles(model, opts.tokenizerJson)), ...(opts.extraFiles ?? [])];
  if (opts.average) {
    // The model's files read while the average sits in the weights' place, swapped back at once.
    opts.average.swap();
    const averaged = await modelFiles(model).finally(() => opts.average!.swap());
    const at = files.findIndex((f) => f.name === 'model.safetensors');
    files.push({ ...files[at]!, name: RAW_WEIGHTS });
    files[at] = averaged.find((f) => f.name === 'model.safetensors')!;
  }
  if (opts.optimizer) {
    const moments = new Map<string, TensorIn>();
    for (const [name, s] of await opts.optimizer.state()) {
      const shape = model.params.get(name).shape;
      moments.set(`m.${name}`, { shape, data: s.m });
      moments.set(`v.${name}`, { shape, data: s.v });
    }
    files.push({ name: 'optimizer.safetensors', tensors: moments, metadata: { step: String(opts.optimizer.step), hyper: JSON.stringify(opts.optimizer.hyper) } });
  }
  if (opts.state) files.push({ name: 'state.json', text: JSON.stringify(opts.state, null, 2) + '\n' });
  writeCheckpointFolder(dir, files, opts.state?.step);
}

/** Restores AdamW's step and moments from optimizer.safetensors. The caller verifies the folder. */
export function loadOptimizerInto(dir: string, opt: AdamW): void {
  const file = path.join(dir, 'optimizer.safetensors');
  if (!fs.existsSync(file)) throw new CheckpointError(`${dir} has no optimizer.safetensors: it holds a model, not a training state; give a checkpoint written by coca train`);
  const f = readSafetensors(file);
  const found = new Map<string, { m?: Float32Array; v?: Float32Array }>();
  for (const [key, t] of f.tensors) {
    const [kind, ...rest] = key.split('.');
    if (kind !== 'm' && kind !== 'v') throw new CheckpointError(`${file} holds a tensor "${key}" that is neither a first (m.) nor a second (v.) moment; the checkpoint is damaged: use another one`);
    const name = rest.join('.');
    found.set(name, { ...found.get(name), [kind]: t.data as Float32Array });
  }
  // A parameter with one moment would otherwise resume with the other silently left at zero.
  const moments = new Map<string, { m: Float32Array; v: Float32Array }>();
  for (const [name, { m, v }] of found) {
    if (!m || !v) throw new CheckpointError(`${file} has no ${m ? 'v' : 'm'}.${name} beside its ${m ? 'm' : 'v'}.${name}; the checkpoint is damaged: use another one`);
    moments.set(name, { m, v });
  }
  opt.load(Number(f.metadata?.step ?? 0), moments);
}

/**
 * The weights a training checkpoint continues from (RAW_WEIGHTS where it has a weight average,
 * else model.safetensors), and the average when it has one. The caller verifies the folder.
 */
export function readTrainingWeights(dir: string): { weights: Map<string, HostTensor>; average: Map<string, HostTensor> | null } {
  const read = (name: string) => checkpointParams(readSafetensors(path.join(dir, name)), path.join(dir, name));
  const model = path.join(dir, 'model.safetensors');
  if (!fs.existsSync(model)) throw new CheckpointError(`${dir} has no model.safetensors; the checkpoint is incomplete`);
  if (!fs.existsSync(path.join(dir, RAW_WEIGHTS))) return { weights: read('model.safetensors'), average: null };
  return { weights: read(RAW_WEIGHTS), average: read('model.safetensors') };
}

/** state.json of a training checkpoint. */
export function readTrainState<T>(dir: string): T {
  const file = path.join(dir, 'state.json');
  if (!fs.existsSync(file)) throw new CheckpointError(`${dir} has no state.json: it holds a model, not a training state; give a checkpoint written by coca train`);
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch (e) {
    throw new CheckpointError(`${file} is not valid JSON (${(e as Error).message}); the checkpoint is damaged: use another one`);
  }
}

/** The step a training checkpoint holds: from its manifest, or state.json for older folders. */
export function checkpointStep(dir: string): number | null {
  const m = readManifest(dir);
  if (m) return m.step ?? null;
  const s = path.join(dir, 'state.json');
  if (!fs.existsSync(s) || !fs.existsSync(path.join(dir, 'model.safetensors'))) return null;
  try {
    return (JSON.parse(fs.readFileSync(s, 'utf8')) as { step?: number }).step ?? null;
  } catch {
    return null;
  }
}

/**
 * The newest training checkpoint of a run (last, best or step-N, by step; `last` wins a tie),
 * after tidying what an interrupted save left there; null when the run has none yet.
 * `log` receives a line per leftover folder tidied.
 */
export function newestRunCheckpoint(run: string, log: (line: string) => void): string | null {
  const root = path.join(run, 'checkpoints');
  for (const line of recoverCheckpointFolders(root)) log(`${root}: ${line}`);
  if (!fs.existsSync(root)) return null;
  const found: { dir: string; step: number; rank: number }[] = [];
  for (const name of fs.readdirSync(root)) {
    if (name.startsWith('.')) continue;
    const dir = path.join(root, name);
    const step = checkpointStep(dir);
    if (step !== null) found.push({ dir, step, rank: name === 'last' ? 2 : name === 'best' ? 1 : 0 });
  }
  found.sort((a, b) => b.step - a.step || b.rank - a.rank);
  return found[0]?.dir ?? null;
}

/** Removes the oldest step-N checkpoints of a run, keeping `keep`. */
export function pruneCheckpoints(root: string, keep: number): void {
  // By number: the names are padded to six digits, so from step 1,000,000 on a sort by name would
  // put the newest first and prune it.
  const stepOf = (d: string) => Number(d.slice('step-'.length));
  const steps = fs.readdirSync(root).filter((d) => /^step-\d+$/.test(d)).sort((a, b) => stepOf(a) - stepOf(b));
  for (const d of steps.slice(0, Math.max(0, steps.length - keep))) removeCheckpointFolder(path.join(root, d));
}
