// Normalised embeddings in batches: images through the image tower, texts through the unimodal
// text tower. Retrieval, the index and zero-shot classification all rank by their dot products
// (cosine similarity).
import type { TokenizerCore } from '../data/tokenizer-core.ts';
import type { CocaModel } from '../model/coca.ts';
import { noGrad } from '../tensor/tape.ts';
import { tidy } from '../tensor/tensor.ts';

/** Rows of x [n, E] scaled to unit length (F.normalize, eps 1e-12), in place. */
export function normaliseRows(x: Float32Array, E: number): Float32Array {
  for (let i = 0; i < x.length; i += E) {
    let s = 0;
    for (let j = 0; j < E; j++) s += x[i + j]! * x[i + j]!;
    const r = 1 / Math.max(Math.sqrt(s), 1e-12);
    for (let j = 0; j < E; j++) x[i + j]! *= r;
  }
  return x;
}

/** images [n, 3, S, S] → [n, E] unit rows, `batch` images per GPU pass. */
export async function embedImages(model: CocaModel, images: Float32Array, n: number, batch = 32): Promise<Float32Array> {
  const E = model.config.embed_dim;
  const per = images.length / n;
  const out = new Float32Array(n * E);
  for (let i = 0; i < n; i += batch) {
    const m = Math.min(batch, n - i);
    const patches = model.preparePatches(images.subarray(i * per, (i + m) * per), m);
    const emb = noGrad(() => tidy(() => model.encodeImage(patches).embedding));
    patches.release();
    out.set(await emb.toArray(), i * E);
    emb.release();
  }
  return normaliseRows(out, E);
}

/**
 * Texts → [n, E] unit rows (each as [SOT] text [EOT], truncated to the context; a multilingual
 * model's as [SOT] [lang:xx] text [EOT], `langs` one language for all or one per text, English
 * when not given).
 */
export async function embedTexts(model: CocaModel, tokenizer: Pick<TokenizerCore, 'encodeBatch'>, texts: readonly string[], batch = 64, langs?: string | readonly (string | undefined)[]): Promise<Float32Array> {
  const L = model.config.text_cfg.context_length;
  // Padded to the full context as in training: the CLS slot's position embedding is row L.
  const ids = tokenizer.encodeBatch(texts, L, langs);
  return embedTokenRows(model, ids, texts.length, batch);
}

/** Token rows [n, L] already padded to the context (as encodeBatch makes them) → [n, E] unit rows. */
export async function embedTokenRows(model: CocaModel, ids: Int32Array, n: number, batch = 64): Promise<Float32Array> {
  const E = model.config.embed_dim;
  const L = ids.length / n;
  const out = new Float32Array(n * E);
  for (let i = 0; i < n; i += batch) {
    const m = Math.min(batch, n - i);
    const prep = model.prepareText(ids.subarray(i * L, (i + m) * L), m);
    const emb = noGrad(() => tidy(() => model.encodeText(prep).embedding));
    prep.release();
    out.set(await emb.toArray(), i * E);
    emb.release();
  }
  return normaliseRows(out, E);
}

export interface Hit {
  index: number;
  score: number;
}

/** The k rows of `matrix` [n, E] with the largest dot product with `q` [E], best first. */
export function topK(matrix: Float32Array, q: Float32Array, k: number): Hit[] {
  const E = q.length;
  const n = matrix.length / E;
  const hits: Hit[] = [];
  for (let i = 0; i < n; i++) {
    let s = 0;
    const o = i * E;
    for (let j = 0; j < E; j++) s += matrix[o + j]! * q[j]!;
    if (hits.length < k) hits.push({ index: i, score: s });
    else if (s > hits[hits.length - 1]!.score) hits[hits.length - 1] = { index: i, score: s };
    else continue;
    for (let j = hits.length - 1; j > 0 && hits[j]!.score > hits[j - 1]!.score; j--) [hits[j], hits[j - 1]] = [hits[j - 1]!, hits[j]!];
  }
  return hits;
}
