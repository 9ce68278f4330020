// Zero-shot classification, CLIP style: each label becomes several sentences ("a photo of a
// {}."), their text embeddings are averaged (each normalised first, the mean normalised again:
// CLIP's prompt ensemble), and an image's class probabilities are the softmax of its cosine
// similarities times the model's learned logit scale exp(s), s ≤ ln 100 as in training.
import fs from 'node:fs';
import type { Tokenizer } from '../data/index.ts';
import type { CocaModel } from '../model/coca.ts';
import { clampLogitScale } from '../model/loss.ts';
import { embedTexts, normaliseRows } from './embed.ts';
import { InferError } from './load.ts';

/**
 * The default ensemble: the bare label first (the built-in captions are mostly bare names), then
 * a few of CLIP's ImageNet templates that fit drawings as well as photos.
 */
export const DEFAULT_TEMPLATES = ['{}', 'a {}.', 'a photo of a {}.', 'a picture of a {}.', 'a drawing of a {}.', 'an icon of a {}.', 'a close-up photo of the {}.', 'a rendering of a {}.'];

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

/** [labels, E]: the normalised mean of each label's normalised template embeddings. */
export async function classEmbeddings(model: CocaModel, tokenizer: Tokenizer, labels: readonly string[], templates: readonly string[]): Promise<Float32Array> {
  const E = model.config.embed_dim;
  const T = templates.length;
  const texts = labels.flatMap((l) => templates.map((t) => t.replaceAll('{}', l)));
  const all = await embedTexts(model, tokenizer, texts);
  const out = new Float32Array(labels.length * E);
  for (let c = 0; c < labels.length; c++) {
    for (let t = 0; t < T; t++) for (let j = 0; j < E; j++) out[c * E + j]! += all[(c * T + t) * E + j]! / T;
  }
  return normaliseRows(out, E);
}

/** exp of the model's logit scale, clamped as in training. */
export async function logitScale(model: CocaModel): Promise<number> {
  const s = (await model.params.get('logit_scale').toArray())[0]!;
  return Math.exp(clampLogitScale(s));
}

/** Class probabilities [n, C] of unit image embeddings [n, E] against class embeddings [C, E]. */
export function classify(images: Float32Array, classes: Float32Array, E: number, scale: number): Float64Array {
  const n = images.length / E;
  const C = classes.length / E;
  const out = new Float64Array(n * C);
  for (let i = 0; i < n; i++) {
    const row = out.subarray(i * C, (i + 1) * C);
    for (let c = 0; c < C; c++) {
      let s = 0;
      for (let j = 0; j < E; j++) s += images[i * E + j]! * classes[c * E + j]!;
      row[c] = scale * s;
    }
    const m = Math.max(...row);
    let z = 0;
    for (let c = 0; c < C; c++) z += row[c] = Math.exp(row[c]! - m);
    for (let c = 0; c < C; c++) row[c]! /= z;
  }
  return out;
}
