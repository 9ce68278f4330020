// Zero-shot classification, CLIP style: each label becomes several sentences ("a photo of a
// {}."), their text embeddings are averaged (each normalised first, the mean normalised again:
// CLIP's prompt ensemble), and an image's class probabilities are the softmax of its cosine
// similarities times the model's learned logit scale exp(s), s ≤ ln 100 as in training.
import fs from 'node:fs';
import { InferError } from './load.ts';

import { DEFAULT_TEMPLATES } from './zeroshot-scores.ts';

export { classEmbeddings, classify, DEFAULT_TEMPLATES, logitScale } from './zeroshot-scores.ts';

/** Labels from "a,b,c" or a file (one per line; blank lines and # comments skipped). */
export function parseLabels(list?: string, file?: string): string[] {
  if (list !== undefined && file !== undefined) throw new InferError('give --labels or --labels-file, not both');
  let raw: string[];
  if (file !== undefined) {
    if (!fs.existsSync(file)) throw new InferError(`--labels-file ${file}: no such file`);
    raw = fs.readFileSync(file, 'utf8').split('\n').filter((l) => !l.trim().startsWith('#'));
  } else if (list !== undefined) raw = list.split(',');
  else throw new InferError('name the classes: --labels "cat,dog,..." or --labels-file FILE');
  const labels = [...new Set(raw.map((l) => l.trim()).filter((l) => l.length > 0))];
  if (labels.length === 0) throw new InferError(`${file ? `--labels-file ${file}` : '--labels'} holds no labels; give at least one (two to compare)`);
  return labels;
}

/** 'default' or a file of templates, one per line, each with one {} for the label. */
export function parseTemplates(arg = 'default'): string[] {
  if (arg === 'default') return DEFAULT_TEMPLATES;
  if (!fs.existsSync(arg)) throw new InferError(`--templates ${arg}: no such file (or say 'default')`);
  const t = fs.readFileSync(arg, 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const bad = t.find((l) => !l.includes('{}'));
  if (bad !== undefined) throw new InferError(`--templates ${arg}: "${bad}" has no {} where the label goes`);
  if (t.length === 0) throw new InferError(`--templates ${arg} holds no templates`);
  return t;
}
