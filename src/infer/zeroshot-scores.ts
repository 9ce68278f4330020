// Zero-shot scores (zeroshot.ts says what they are), with no file: the CLI and `coca serve` use
// them through zeroshot.ts, the exported site (src/web/site.ts) directly.
import type { TokenizerCore } from '../data/tokenizer-core.ts';
import type { CocaModel } from '../model/coca.ts';
import { clampLogitScale } from '../model/loss.ts';
import { embedTexts, normaliseRows } from './embed.ts';

/**
 * The default ensemble: the bare label first (the built-in captions are mostly bare names), then
 * a few of CLIP's ImageNet templates that fit drawings as well as photos.
 */
export const DEFAULT_TEMPLATES = ['{}', 'a {}.', 'a photo of a {}.', 'a picture of a {}.', 'a drawing of a {}.', 'an icon of a {}.', 'a close-up photo of the {}.', 'a rendering of a {}.'];

/** [labels, E]: the normalised mean of each label's normalised template embeddings. */
export async function classEmbeddings(model: CocaModel, tokenizer: Pick<TokenizerCore, 'encodeBatch'>, labels: readonly string[], templates: readonly string[]): Promise<Float32Array> {
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
