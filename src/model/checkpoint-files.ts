// A checkpoint's files as data, before anything is written: the model's part (model.safetensors,
// config.json, tokenizer.json) and the manifest listing each file's size and sha256. The folder
// writer (checkpoint-folder.ts) puts them on disk; a tab (the train-in-a-tab page) hands them to
// the visitor as a download, hashed with the browser's own SHA-256, so `coca` verifies and loads
// the folder unpacked from it like one it wrote itself.
import type { ParamStore } from '../nn/params.ts';
import type { CocaModel } from './coca.ts';
import { clampLogitScale } from './loss.ts';
import { serializeSafetensors, type TensorIn } from './safetensors-format.ts';

export const MANIFEST = 'manifest.json';
export const CHECKPOINT_FORMAT = 'coca-checkpoint-1';

export interface ManifestEntry {
  file: string;
  bytes: number;
  sha256: string;
}

export interface Manifest {
  format: typeof CHECKPOINT_FORMAT;
  /** The training step the checkpoint holds, where it comes from a training run. */
  step?: number;
  files: ManifestEntry[];
}

/** One file of a checkpoint: text (JSON) or tensors written as safetensors. */
export type CheckpointFile = { name: string; text: string } | { name: string; tensors: Map<string, TensorIn>; metadata?: Record<string, string> };

export interface NamedBytes {
  name: string;
  bytes: Uint8Array;
}

/** The manifest's text, as the folder writer writes it. */
export function manifestText(entries: ManifestEntry[], step?: number): string {
  const manifest: Manifest = { format: CHECKPOINT_FORMAT, ...(step !== undefined ? { step } : {}), files: entries };
  return JSON.stringify(manifest, null, 2) + '\n';
}

/** A model as a checkpoint holds it: its parameters and the config that made them (CoCa or another architecture). */
export interface StoredModel {
  params: ParamStore;
  config: object;
}

/** The model's files of a checkpoint, for writeCheckpointFolder or checkpointBytes. */
export async function modelFiles(model: StoredModel, tokenizerJson?: string): Promise<CheckpointFile[]> {
  const tensors = new Map<string, TensorIn>();
  for (const [name, t] of await model.params.state()) {
    // The logit scale is clamped where it is read; store the value the model uses.
    const data = name === 'logit_scale' ? Float32Array.from(t.data, (x) => clampLogitScale(x)) : t.data;
    tensors.set(name, { shape: t.shape, data });
  }
  const files: CheckpointFile[] = [
    { name: 'model.safetensors', tensors, metadata: { format: 'coca-1', config: JSON.stringify(model.config) } },
    { name: 'config.json', text: JSON.stringify(model.config, null, 2) + '\n' },
  ];
  if (tokenizerJson) files.push({ name: 'tokenizer.json', text: tokenizerJson });
  return files;
}

/** The bytes of a file as the folder writer writes it. */
export function fileBytes(f: CheckpointFile): Uint8Array {
  return 'text' in f ? new TextEncoder().encode(f.text) : serializeSafetensors(f.tensors, f.metadata);
}

/** The model's checkpoint files and their manifest as bytes; `sha256` hashes (hex) in the host's way. */
export async function checkpointBytes(model: CocaModel, tokenizerJson: string, sha256: (bytes: Uint8Array) => Promise<string>, step?: number): Promise<NamedBytes[]> {
  const out = (await modelFiles(model, tokenizerJson)).map((f) => ({ name: f.name, bytes: fileBytes(f) }));
  const entries: ManifestEntry[] = [];
  for (const f of out) entries.push({ file: f.name, bytes: f.bytes.length, sha256: await sha256(f.bytes) });
  return [...out, { name: MANIFEST, bytes: new TextEncoder().encode(manifestText(entries, step)) }];
}
