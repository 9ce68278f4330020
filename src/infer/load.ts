// What the inference commands share: finding the checkpoint (by default the newest one `coca
// train` wrote under runs/, else the built-in model of models/builtin), opening it with its tokenizer and the preprocessing it records, a
// stable id for it (retrieval indexes record it), and turning image files into the model's input.
import fs from 'node:fs';
import path from 'node:path';
import { DataError, Tokenizer, type ImagePreprocess } from '../data/index.ts';
import { readSource, toModelInput } from '../data/prep.ts';
import type { Gpu } from '../gpu/gpu.ts';
import { CocaError } from '../util/errors.ts';
import type { CocaModel } from '../model/coca.ts';
import { BUILTIN_MODEL_DIR, builtinNotice, hasBuiltinModel } from '../model/builtin.ts';
import { readManifest, sha256File } from '../model/checkpoint-folder.ts';
import { loadCheckpoint, readCheckpointTokenizer } from '../model/checkpoint.ts';
import { checkpointPreprocess } from '../model/preprocess.ts';

export class InferError extends CocaError {
  override name = 'InferError';
}

export interface OpenCheckpoint {
  dir: string;
  /** sha256 of model.safetensors, first 16 hex digits. */
  id: string;
  model: CocaModel;
  tokenizer: Tokenizer;
  /** How pictures become this model's input (its config's record). */
  pre: ImagePreprocess;
  release(): void;
}

const isCheckpoint = (d: string) => fs.existsSync(path.join(d, 'config.json')) && fs.existsSync(path.join(d, 'model.safetensors'));

/** The newest checkpoint folder (config.json + model.safetensors) under `root`, or null. */
export function newestCheckpoint(root = 'runs'): string | null {
  let best: { dir: string; t: number } | null = null;
  const walk = (d: string, depth: number) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    if (isCheckpoint(d)) {
      const t = fs.statSync(path.join(d, 'model.safetensors')).mtimeMs;
      if (!best || t > best.t) best = { dir: d, t };
    }
    if (depth < 4) for (const e of entries) if (e.isDirectory() && !e.name.startsWith('.')) walk(path.join(d, e.name), depth + 1);
  };
  walk(root, 0);
  return (best as { dir: string } | null)?.dir ?? null;
}

export interface ResolveOptions {
  /** Where runs are looked for (default runs/ in the working directory). */
  runs?: string;
  /** Whether the built-in model stands in when there is no run (default true; coca eval says no). */
  builtin?: boolean;
  /** Where the one line saying the built-in model is used goes (default stderr, once per process). */
  notice?: (line: string) => void;
}

let builtinNoticed = false;
const noticeOnce = (line: string) => {
  if (!builtinNoticed) console.error(line);
  builtinNoticed = true;
};

/** --checkpoint as given (a checkpoint or a run folder), else the newest under runs/, else the built-in model. */
export function resolveCheckpointDir(arg?: string, o: ResolveOptions = {}): string {
  if (!arg) {
    const found = newestCheckpoint(o.runs ?? 'runs');
    if (found) return found;
    if (o.builtin !== false && hasBuiltinModel()) {
      (o.notice ?? noticeOnce)(builtinNotice());
      return BUILTIN_MODEL_DIR;
    }
    const byName = o.builtin === false && hasBuiltinModel() ? ` (the built-in model is taken here only by name: ${path.relative(process.cwd(), BUILTIN_MODEL_DIR).startsWith('..') ? BUILTIN_MODEL_DIR : path.relative(process.cwd(), BUILTIN_MODEL_DIR)})` : '';
    throw new InferError(`no checkpoint given and none under runs/; train one with 'coca train' or pass --checkpoint DIR${byName}`);
  }
  if (!fs.existsSync(arg)) throw new InferError(`checkpoint ${arg} does not exist; pass a folder written by 'coca train'`);
  if (isCheckpoint(arg)) return arg;
  const last = path.join(arg, 'checkpoints', 'last');
  if (isCheckpoint(last)) return last;
  const inside = newestCheckpoint(arg);
  if (inside) return inside;
  throw new InferError(`${arg} holds no checkpoint (config.json + model.safetensors); pass a folder written by 'coca train'`);
}

/** sha256 of the weights: an index built with other weights must not be read with these. */
export function checkpointId(dir: string): string {
  // The manifest holds the hash that loading has just checked; older folders are hashed here.
  const listed = readManifest(dir)?.files.find((f) => f.file === 'model.safetensors');
  return (listed?.sha256 ?? sha256File(path.join(dir, 'model.safetensors'))).slice(0, 16);
}

export function openCheckpoint(gpu: Gpu, arg?: string): OpenCheckpoint {
  const dir = resolveCheckpointDir(arg);
  const model = loadCheckpoint(gpu, dir);
  let tokenizer: Tokenizer | null;
  try {
    tokenizer = readCheckpointTokenizer(dir, model.config);
  } catch (e) {
    model.params.release();
    throw e;
  }
  if (!tokenizer) {
    model.params.release();
    throw new InferError(`${dir} has no tokenizer.json; checkpoints written by 'coca train' carry one`);
  }
  return { dir, id: checkpointId(dir), model, tokenizer, pre: checkpointPreprocess(dir, model.config), release: () => model.params.release() };
}

/**
 * Image files → [n, 3, S, S] as the model's preprocessing prepares them (the same path as a
 * user's dataset in coca eval); a missing or undecodable file is one clear line.
 */
export async function loadImageFiles(files: readonly string[], pre: ImagePreprocess): Promise<Float32Array> {
  const S = pre.size;
  const out = new Float32Array(files.length * 3 * S * S);
  await Promise.all(
    files.map(async (f, i) => {
      if (!fs.existsSync(f)) throw new DataError(`${f}: no such file`);
      if (fs.statSync(f).isDirectory()) throw new DataError(`${f} is a folder; give image files`);
      toModelInput(await readSource({ kind: 'file', path: f }, false, pre), pre, out, i * 3 * S * S);
    }),
  );
  return out;
}

/**
 * The pictures that can be read, side by side as model input, and the ones that cannot with
 * why: one unreadable file in a batch costs that file, not the batch.
 */
export async function loadReadableImages(files: readonly string[], pre: ImagePreprocess): Promise<{ images: Float32Array; kept: string[]; failed: { file: string; reason: string }[] }> {
  const loaded = await Promise.all(files.map((f) => loadImageFiles([f], pre).then((data) => ({ f, data }), (e: Error) => ({ f, reason: e.message }))));
  const ok = loaded.filter((l): l is { f: string; data: Float32Array } => 'data' in l);
  const images = new Float32Array(ok.reduce((n, l) => n + l.data.length, 0));
  ok.reduce((at, l) => (images.set(l.data, at), at + l.data.length), 0);
  return { images, kept: ok.map((l) => l.f), failed: loaded.flatMap((l) => ('reason' in l ? [{ file: l.f, reason: l.reason }] : [])) };
}

/** Picture files under a folder (recursive), sorted. */
export function listImages(dir: string): string[] {
  const exts = /\.(jpe?g|png|webp|gif|avif|tiff?|svg|bmp|heic)$/i;
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(d, e.name);
      if (e.isDirectory() && !e.name.startsWith('.')) walk(p);
      else if (e.isFile() && exts.test(e.name)) out.push(p);
    }
  };
  walk(dir);
  return out;
}
