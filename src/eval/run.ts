// `coca eval` on a trained model: embeddings of a split's images and captions → retrieval
// recall both ways; generated captions → BLEU and CIDEr-D; class prompts → zero-shot top-k;
// each beside its baselines (chance, the nearest training image's caption). A multilingual model
// on a dataset with translations also gets one section per other language, computed on the
// pictures that have captions in it.
import { BatchLoader, DataError, DEFAULT_LANGUAGE, loadDataset, type Dataset, type ImagePreprocess, type Tokenizer } from '../data/index.ts';
import { captionImages, type CaptionOptions } from '../infer/caption.ts';
import type { CheckedSearch } from '../infer/search.ts';
import type { CocaModel } from '../model/coca.ts';
import { embedImages as embedBatch, embedTexts as embedTextBatches, normaliseRows } from '../infer/embed.ts';
import { nearestNeighbourCaptions, randomCaptions, retrievalChance, topKChance } from './baselines.ts';
import { scoreCaptions } from './captioning.ts';
import { retrievalRecallPairs, similarity } from './recall.ts';
import { captionMetrics, recallMetrics, topKMetrics, type EvalSection, type Metrics } from './report.ts';
import type { CaptionRecord } from './sheet.ts';
import { topKAccuracy } from './zeroshot.ts';

export const DEFAULT_TEMPLATES = ['a photo of a {}.', 'a picture of a {}.', 'a drawing of a {}.', 'an icon of a {}.', '{}'];

export interface EvalContext {
  model: CocaModel;
  tokenizer: Tokenizer;
  /** The model's preprocessing (its config's record): how every picture is fed to it. */
  pre: ImagePreprocess;
  /** Stop at the first picture that cannot be decoded (otherwise such pictures are left out and counted). */
  strict?: boolean;
  batch: number;
  /** Evaluate at most this many items per split (tests, quick looks). */
  maxItems?: number;
  /** How captions are generated: checkSearch of --beams (greedy by default) and --max-len, and --rerank's choice among the beams. */
  search: CheckedSearch & Pick<CaptionOptions, 'rerank'>;
  log: (line: string) => void;
  /** When given, each captioned picture's caption and references are appended here (--captions). */
  captions?: CaptionRecord[];
}

/**
 * Unit-norm image embeddings [N, E] of the first items of a split that could be decoded, and
 * which items they are; pictures that could not be decoded are left out and told in one line.
 */
export async function embedImages(ctx: EvalContext, ds: Dataset, limit = Infinity): Promise<{ emb: Float32Array; n: number; indices: number[]; images: Float32Array[] }> {
  const { model } = ctx;
  const E = model.config.embed_dim;
  const plane = 3 * ctx.pre.size ** 2;
  const loader = new BatchLoader(ds, { batchSize: ctx.batch, contextLength: model.config.text_cfg.context_length, tokenizer: ctx.tokenizer, preprocess: ctx.pre, strict: ctx.strict ?? false, train: false });
  const parts: Float32Array[] = [];
  const images: Float32Array[] = [];
  const indices: number[] = [];
  try {
    for (;;) {
      const b = await loader.next();
      const rows = Math.min(b.rows, limit - indices.length);
      if (rows > 0) {
        const pixels = b.images.slice(0, rows * plane);
        parts.push(await embedBatch(model, pixels, rows, rows));
        images.push(pixels);
        indices.push(...b.indices.subarray(0, rows));
      }
      if (b.last || indices.length >= limit) break;
    }
    const note = loader.decodeSummary();
    if (indices.length === 0) throw new DataError(`none of the ${ds.length} pictures of ${ds.name} ${ds.split} could be decoded; check the image files (--strict names the first and why)`);
    if (note) ctx.log(note);
  } finally {
    await loader.close();
  }
  const n = indices.length;
  const emb = new Float32Array(n * E);
  let at = 0;
  for (const p of parts) {
    emb.set(p, at);
    at += p.length;
  }
  return { emb, n, indices, images };
}

/** Unit-norm text embeddings [texts, E], each text encoded with the language token of `lang` (a multilingual model). */
export function embedTexts(ctx: EvalContext, texts: readonly string[], lang?: string): Promise<Float32Array> {
  return embedTextBatches(ctx.model, ctx.tokenizer, texts, ctx.batch, lang);
}

/** The training images' embeddings and first captions, for the nearest-neighbour baseline; `byLang`: each other language's first caption (undefined where an image has none). */
export interface TrainCaptions {
  emb: Float32Array;
  captions: string[];
  byLang?: Record<string, (string | undefined)[]>;
}

/** The languages besides English that `evalSplit` gives sections of: the dataset's that the model has a token for. */
export function evalLanguages(ds: Dataset, tokenizer: Tokenizer): string[] {
  if (!ds.captionsIn) return [];
  return (ds.languages ?? []).filter((l) => l !== DEFAULT_LANGUAGE && tokenizer.languages.includes(l));
}

/** Retrieval, captioning and (concepts as classes) flat hit@k on one split, then per other language. */
export async function evalSplit(ctx: EvalContext, data: string, split: string, train: TrainCaptions | null): Promise<EvalSection[]> {
  const { model, tokenizer } = ctx;
  const E = model.config.embed_dim;
  const ds = await loadDataset(data, { split, imageSize: ctx.pre.size, strict: ctx.strict ?? false });
  const t0 = performance.now();
  const img = await embedImages(ctx, ds, ctx.maxItems);
  const N = img.n;
  const refs = img.indices.map((i) => [...ds.captions(i)]);
  const texts = refs.flat();
  const pairs: [number, number][] = [];
  refs.forEach((r, i) => r.forEach((_, k) => pairs.push([i, pairs.length])));
  const txt = await embedTexts(ctx, texts);
  const recall = retrievalRecallPairs(similarity(img.emb, txt, N, texts.length, E), N, texts.length, pairs);
  ctx.log(`  ${split}: embedded ${N} images and ${texts.length} captions (${((performance.now() - t0) / 1000).toFixed(1)} s); captioning...`);

  const hyps: string[] = [];
  const S = ctx.pre.size;
  const search = { ...ctx.search, ...tokenizer.searchIds() };
  for (const batch of img.images) {
    const rows = batch.length / (3 * S * S);
    const decoded = await captionImages(model, batch, rows, search);
    for (const c of decoded) hyps.push(tokenizer.decode(c.tokens));
  }
  ctx.captions?.push(...hyps.map((caption, k) => ({ split, item: img.indices[k]!, id: ds.meta(img.indices[k]!).id, caption, references: refs[k]! })));
  const rows = [{ name: 'coca', metrics: { ...recallMetrics(recall), ...captionMetrics(scoreCaptions(hyps, refs)) } }];
  if (train) {
    const nn = nearestNeighbourCaptions(img.emb, train.emb, E, train.captions);
    rows.push({ name: 'nearest-neighbour caption', metrics: captionMetrics(scoreCaptions(nn.captions, refs)) });
  }
  rows.push({ name: 'chance', metrics: { ...recallMetrics(retrievalChance(N, texts.length, pairs)), ...(train ? randomCaptionMetrics(refs, train.captions) : {}) } });
  const sections: EvalSection[] = [{ title: split, sizes: { images: N, captions: texts.length }, rows }];

  // Flat hit@k: the split's distinct captions as classes (DeViSE's zero-shot setting).
  const classes = [...new Set(texts)];
  if (classes.length > 1) {
    const classOf = new Map(classes.map((c, i) => [c, i]));
    const labels = refs.map((r) => classOf.get(r[0]!)!);
    const cemb = await embedTexts(ctx, classes);
    const acc = topKAccuracy(similarity(img.emb, cemb, N, classes.length, E), N, classes.length, labels);
    sections.push({
      title: `${split}, captions as classes (flat hit@k)`,
      sizes: { images: N, classes: classes.length },
      rows: [{ name: 'coca', metrics: topKMetrics(acc) }, { name: 'chance', metrics: { top1: topKChance(classes.length, 1), top5: topKChance(classes.length, 5) } }],
    });
  }
  for (const lang of evalLanguages(ds, tokenizer)) {
    const section = await evalLanguage(ctx, ds, img, lang, train);
    if (section) sections.push(section);
  }
  return sections;
}

/**
 * Retrieval and captioning in one other language, on the split's pictures that have captions in
 * it (the English-only sources have none): texts are encoded, and captions decoded, after the
 * language's token; the nearest-neighbour baseline takes the caption in that language of the
 * nearest training picture that has one. Undefined when no picture has a caption in `lang`.
 */
async function evalLanguage(ctx: EvalContext, ds: Dataset, img: { emb: Float32Array; indices: number[]; images: Float32Array[] }, lang: string, train: TrainCaptions | null): Promise<EvalSection | undefined> {
  const { model, tokenizer } = ctx;
  const E = model.config.embed_dim;
  const plane = 3 * ctx.pre.size ** 2;
  const rows = img.indices.flatMap((i, k) => (ds.captionsIn!(i, lang).length > 0 ? [k] : []));
  if (rows.length === 0) return undefined;
  const N = rows.length;
  const refs = rows.map((k) => [...ds.captionsIn!(img.indices[k]!, lang)]);
  const texts = refs.flat();
  const pairs: [number, number][] = [];
  refs.forEach((r, i) => r.forEach(() => pairs.push([i, pairs.length])));
  const emb = gatherRows(img.emb, rows, E);
  const txt = await embedTexts(ctx, texts, lang);
  const recall = retrievalRecallPairs(similarity(emb, txt, N, texts.length, E), N, texts.length, pairs);

  const pixels = gatherRows(concat(img.images), rows, plane);
  const search = { ...ctx.search, ...tokenizer.searchIds(lang) };
  const hyps: string[] = [];
  for (let at = 0; at < N; at += ctx.batch) {
    const n = Math.min(ctx.batch, N - at);
    for (const c of await captionImages(model, pixels.subarray(at * plane, (at + n) * plane), n, search)) hyps.push(tokenizer.decode(c.tokens));
  }
  ctx.captions?.push(...hyps.map((caption, j) => ({ split: ds.split, lang, item: img.indices[rows[j]!]!, id: ds.meta(img.indices[rows[j]!]!).id, caption, references: refs[j]! })));
  const out = [{ name: 'coca', metrics: { ...recallMetrics(recall), ...captionMetrics(scoreCaptions(hyps, refs)) } }];
  const trainCaps = train?.byLang?.[lang];
  if (train && trainCaps) {
    const have = trainCaps.flatMap((c, i) => (c !== undefined ? [i] : []));
    if (have.length > 0) {
      const nn = nearestNeighbourCaptions(emb, gatherRows(train.emb, have, E), E, have.map((i) => trainCaps[i]!));
      out.push({ name: 'nearest-neighbour caption', metrics: captionMetrics(scoreCaptions(nn.captions, refs)) });
    }
  }
  const pool = trainCaps?.filter((c): c is string => c !== undefined) ?? [];
  out.push({ name: 'chance', metrics: { ...recallMetrics(retrievalChance(N, texts.length, pairs)), ...(pool.length > 0 ? randomCaptionMetrics(refs, pool) : {}) } });
  return { title: `${ds.split}, ${lang} captions`, sizes: { images: N, captions: texts.length }, rows: out };
}

const RANDOM_CAPTION_DRAWS = 5;

/**
 * Captioning's chance row: each picture given a uniformly drawn training caption, the scores
 * averaged over RANDOM_CAPTION_DRAWS draws (seeds 1, 2, …) so that the row does not rest on one.
 */
export function randomCaptionMetrics(refs: string[][], pool: readonly string[]): Metrics {
  const sum: Metrics = {};
  for (let d = 1; d <= RANDOM_CAPTION_DRAWS; d++) {
    for (const [k, v] of Object.entries(captionMetrics(scoreCaptions(randomCaptions(refs.length, pool, d), refs)))) sum[k] = (sum[k] ?? 0) + v! / RANDOM_CAPTION_DRAWS;
  }
  return sum;
}

/** Rows `rows` of a row-major [*, width] matrix, in that order. */
function gatherRows(x: Float32Array, rows: readonly number[], width: number): Float32Array {
  const out = new Float32Array(rows.length * width);
  rows.forEach((r, k) => out.set(x.subarray(r * width, (r + 1) * width), k * width));
  return out;
}

function concat(parts: readonly Float32Array[]): Float32Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Zero-shot classification of a split with class names (Fashion-MNIST), prompt ensembles. */
export async function evalZeroShot(ctx: EvalContext, data: string, split: string, templates = DEFAULT_TEMPLATES): Promise<EvalSection> {
  const { model } = ctx;
  const E = model.config.embed_dim;
  const ds = await loadDataset(data, { split, imageSize: ctx.pre.size, strict: ctx.strict ?? false });
  const classes = ds.classes;
  if (!classes?.length) throw new Error(`split ${split} of ${data} has no class names`);
  const img = await embedImages(ctx, ds, ctx.maxItems);
  const labels = img.indices.map((i) => ds.meta(i).label ?? -1);
  // One embedding per class: the mean of its prompts' unit embeddings, renormalised (CLIP).
  const cls = new Float32Array(classes.length * E);
  for (const t of templates) {
    const emb = await embedTexts(ctx, classes.map((c) => t.replace('{}', c)));
    for (let i = 0; i < cls.length; i++) cls[i]! += emb[i]!;
  }
  normaliseRows(cls, E);
  const acc = topKAccuracy(similarity(img.emb, cls, img.n, classes.length, E), img.n, classes.length, labels);
  return {
    title: `${split} (zero-shot, ${templates.length} prompt templates)`,
    sizes: { images: img.n, classes: classes.length },
    rows: [{ name: 'coca', metrics: topKMetrics(acc) }, { name: 'chance', metrics: { top1: topKChance(classes.length, 1), top5: topKChance(classes.length, 5) } }],
  };
}
