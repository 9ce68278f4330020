// DeViSE's label space: where each label name sits in the space the image tower is regressed into.
// Either the text model's (a label's vector is the mean of its words' skip-gram vectors, null when
// the text never used any of them), or the paper's control, random unit vectors that carry nothing
// from text. A random label vector is a fixed function of the label's name and the run's seed, so
// a checkpoint needs no table of them: a label never seen in training gets its own vector the same
// way in coca eval, coca classify and the experiment script.
import fs from 'node:fs';
import path from 'node:path';
import { CheckpointError } from './errors.ts';
import type { CheckpointFile } from './checkpoint-files.ts';
import { readSafetensors } from './safetensors.ts';
import { labelVector, type WordVectors } from './skipgram.ts';
import { Rng } from '../util/prng.ts';

export const LABEL_VECTORS = ['text', 'random'] as const;
export type LabelVectors = (typeof LABEL_VECTORS)[number];

/** What --help and one-line refusals say of each kind. */
export const LABEL_VECTORS_ABOUT: Record<LabelVectors, string> = {
  text: "the skip-gram model's word vectors, trained on the train captions alone",
  random: "random unit vectors, the paper's control: nothing from text",
};

/** The file of a text-space checkpoint holding the word vectors. */
export const WORD_VECTORS_FILE = 'word_vectors.safetensors';

export interface LabelSpace {
  kind: LabelVectors;
  dim: number;
  /** The label's unit vector, or null when it has none (a text space that never saw its words). */
  vector(label: string): Float32Array | null;
}

export function textSpace(wv: WordVectors): LabelSpace {
  return { kind: 'text', dim: wv.dim, vector: (label) => labelVector(wv, label) };
}

/** FNV-1a over the UTF-16 code units: a label's own seed, the same on every machine. */
function nameHash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

export function randomSpace(dim: number, seed: number): LabelSpace {
  return {
    kind: 'random',
    dim,
    vector(label) {
      const rng = new Rng((nameHash(label) ^ Math.imul(seed + 1, 0x9e3779b1)) >>> 0);
      const v = Float64Array.from({ length: dim }, () => rng.normal());
      const norm = Math.hypot(...v) || 1;
      return Float32Array.from(v, (x) => x / norm);
    },
  };
}

/** The word vectors as one checkpoint file: a [V, D] tensor, the words (in its row order) in the metadata. */
export function wordVectorsFile(wv: WordVectors): CheckpointFile {
  const words = [...wv.vectors.keys()];
  const data = new Float32Array(words.length * wv.dim);
  words.forEach((w, i) => data.set(wv.vectors.get(w)!, i * wv.dim));
  return { name: WORD_VECTORS_FILE, tensors: new Map([['vectors', { shape: [words.length, wv.dim], data }]]), metadata: { words: JSON.stringify(words) } };
}

export function readWordVectors(dir: string): WordVectors {
  const file = path.join(dir, WORD_VECTORS_FILE);
  if (!fs.existsSync(file)) throw new CheckpointError(`${dir} has no ${WORD_VECTORS_FILE}: a devise checkpoint with text label vectors carries its word vectors; the checkpoint is incomplete, use another one`);
  const f = readSafetensors(file);
  const t = f.tensors.get('vectors');
  let words: unknown;
  try {
    words = JSON.parse(f.metadata?.['words'] ?? 'null');
  } catch {
    words = null;
  }
  if (!t || t.shape.length !== 2 || !Array.isArray(words) || words.length !== t.shape[0]) throw new CheckpointError(`${file} does not hold a [words, dim] tensor "vectors" and its word list; the checkpoint is damaged: use another one`);
  const dim = t.shape[1]!;
  const data = t.data as Float32Array;
  const vectors = new Map<string, Float32Array>();
  (words as string[]).forEach((w, i) => vectors.set(w, data.slice(i * dim, (i + 1) * dim)));
  return { dim, vectors };
}
