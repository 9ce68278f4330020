// The architectures `coca train --arch` builds and `coca eval` / `coca caption` read back. A
// checkpoint records its own in config.json ("arch"; absent means coca, so every CoCa checkpoint
// written before this stays as it was), so the commands that load one need no --arch.
import fs from 'node:fs';
import path from 'node:path';
import { CheckpointError, ConfigError } from './errors.ts';

/** Every architecture, with what `--help` says of it. */
export const ARCHS = {
  coca: 'CoCa: ViT, attentional pooler, unimodal + multimodal text decoder; contrastive and captioning losses',
  showtell: 'Show and Tell (seed 001): image embedding → linear + batch norm as the LSTM\'s first input, teacher forcing, dropout',
  sat: 'Show, Attend and Tell (seed 001): LSTM with soft attention over the image\'s feature map, gate β, doubly stochastic regulariser',
  prefix: 'prefix captioner (seed 000, ClipCap-like): a frozen coca image tower (--encoder), an MLP to prefix vectors, a small causal transformer LM over them and the caption',
  devise: 'DeViSE (seed 002): a CNN tower regressed into the word space of a skip-gram model by the hinge rank loss; labels by nearest vector, no captions',
} as const;

export type Arch = keyof typeof ARCHS;
export const ARCH_NAMES = Object.keys(ARCHS) as Arch[];

export function isArch(name: unknown): name is Arch {
  return typeof name === 'string' && Object.hasOwn(ARCHS, name);
}

/** `name` as an Arch, or one line naming the ones there are. */
export function checkArch(name: string, where = '--arch'): Arch {
  if (!isArch(name)) throw new ConfigError(`${where} ${JSON.stringify(name)}: no such architecture (there are: ${ARCH_NAMES.join(', ')})`);
  return name;
}

/** The architecture a parsed config.json names: its "arch" key, coca when it has none. */
export function archOfConfig(raw: unknown, where: string): Arch {
  const a = raw && typeof raw === 'object' && !Array.isArray(raw) ? (raw as Record<string, unknown>)['arch'] : undefined;
  if (a === undefined) return 'coca';
  return checkArch(String(a), `${where}: arch`);
}

/** The architecture of the checkpoint in `dir` (its config.json's). */
export function checkpointArch(dir: string): Arch {
  const file = path.join(dir, 'config.json');
  if (!fs.existsSync(file)) throw new CheckpointError(`${dir} is not a coca checkpoint (no config.json); give a folder written by coca train`);
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new CheckpointError(`${file} is not valid JSON (${(e as Error).message}); the checkpoint is damaged: use another one`);
  }
  return archOfConfig(raw, file);
}

/** One line for a checkpoint of an architecture the command cannot use. */
export function wrongArch(dir: string, arch: Arch, command: string, takes: readonly Arch[]): CheckpointError {
  return new CheckpointError(`${dir} holds a ${arch} model; ${command} works on ${takes.join(' or ')} models (coca eval takes any architecture, coca caption all but devise, coca classify coca and devise)`);
}
