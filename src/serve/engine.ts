// What the routes ask of the model, each call a job on the one GPU queue. Captions batch across
// requests that share their search options; image embeddings batch across all requests; text
// encodes (queries, candidate captions, zero-shot classes) run one request at a time and are
// cached where they repeat (the index's captions, a label set).
import { poolerPatchWeights, wordMap } from '../infer/attention-map.ts';
import { captionImages, type CaptionOptions } from '../infer/caption.ts';
import { embedImages, embedTexts, topK, type Hit } from '../infer/embed.ts';
import { queryLanguage } from '../infer/language.ts';
import type { OpenCheckpoint } from '../infer/load.ts';
import type { RetrievalIndex } from '../infer/retrieval.ts';
import { DEFAULT_SEARCH, sampleSeeds, type CheckedSearch } from '../infer/search.ts';
import { classEmbeddings, classify, DEFAULT_TEMPLATES, logitScale } from '../infer/zeroshot.ts';
import type { GpuQueue } from './queue.ts';

export interface CaptionJob {
  /** [3, S, S] normalised. */
  image: Float32Array;
  search: CheckedSearch & Pick<CaptionOptions, 'rerank'>;
  attention: boolean;
  /** Sampling: this many captions, drawn as separate rows. */
  n: number;
  /** A multilingual model's caption language (its token follows [SOT]); default English. */
  lang?: string;
}

export interface Token {
  id: number;
  text: string;
  logprob: number;
  /** Where the decoder looked for this token: G×G row-major, scaled so the maximum is 1. */
  map?: number[];
}

export interface CaptionOut {
  text: string;
  score: number;
  /** With rerank: how the caption was chosen among the beams' (Caption.rerank). */
  rerank?: { similarity: number; score: number; beamRank: number };
  tokens: Token[];
}

const round = (x: number, d = 1000) => Math.round(x * d) / d;

export class Engine {
  private indexTexts: { texts: string[]; emb: Promise<Float32Array> } | null = null;
  private classes = new Map<string, Promise<Float32Array>>();
  private scale: Promise<number> | null = null;

  constructor(
    readonly ck: OpenCheckpoint,
    readonly queue: GpuQueue,
    readonly index: RetrievalIndex | null,
    /** Keeps this model's caption jobs out of another served model's batches ('' for the first). */
    readonly key = '',
  ) {}

  /** Side of the attention grid (patches per row). */
  get grid(): number {
    const v = this.ck.model.config.vision_cfg;
    return v.image_size / v.patch_size;
  }

  caption(job: CaptionJob): Promise<CaptionOut[]> {
    // Only requests asking the same search can share a decode; the image itself never matters,
    // nor the seed (every request's rows draw from their own generators).
    const { sample, ...rest } = job.search;
    const shared = sample ? { ...rest, sample: { ...sample, seed: undefined } } : rest;
    const group = `caption${this.key ? `@${this.key}` : ''}:${JSON.stringify(shared)}:${job.attention}:${job.lang ?? ''}`;
    return this.queue.submit(group, job, (jobs) => this.captionBatch(jobs));
  }

  private async captionBatch(jobs: CaptionJob[]): Promise<CaptionOut[][]> {
    const { model, tokenizer } = this.ck;
    const per = jobs[0]!.image.length;
    const rows = jobs.reduce((n, j) => n + j.n, 0);
    const images = new Float32Array(rows * per);
    let r = 0;
    for (const j of jobs) for (let k = 0; k < j.n; k++) images.set(j.image, per * r++);
    const { search, attention, lang } = jobs[0]!;
    const sample = search.sample && { ...search.sample, rowSeeds: jobs.flatMap((j) => sampleSeeds(j.search.sample!.seed ?? DEFAULT_SEARCH.seed, j.n)) };
    const caps = await captionImages(model, images, rows, { ...search, ...tokenizer.searchIds(lang), ...(sample ? { sample } : {}), recordAttention: attention });
    const P = this.grid ** 2;
    let pool: Float32Array | null = null;
    if (attention) {
      const unique = new Float32Array(jobs.length * per);
      jobs.forEach((j, i) => unique.set(j.image, i * per));
      pool = await poolerPatchWeights(model, unique, jobs.length);
    }
    const nImg = pool ? pool.length / jobs.length / P : 0;
    r = 0;
    return jobs.map((j, i) =>
      Array.from({ length: j.n }, () => {
        const c = caps[r++]!;
        const poolI = pool?.subarray(i * nImg * P, (i + 1) * nImg * P);
        return {
          text: tokenizer.decode(c.tokens),
          score: c.score,
          ...(c.rerank ? { rerank: c.rerank } : {}),
          tokens: c.tokens.slice(1).map((id, k) => {
            const t: Token = { id, text: id === tokenizer.eosId ? '[EOT]' : tokenizer.decode([id]), logprob: c.logprobs[k]! };
            const cross = c.attention?.[k];
            if (poolI && cross) {
              const m = wordMap(cross, poolI, nImg, P);
              const top = Math.max(...m) || 1;
              t.map = Array.from(m, (x) => round(x / top));
            }
            return t;
          }),
        };
      }),
    );
  }

  /** Unit image embeddings [E] of one picture, batched with other requests' pictures. */
  embedImage(image: Float32Array): Promise<Float32Array> {
    const E = this.ck.model.config.embed_dim;
    return this.queue.submit('embed-image', image, async (imgs: Float32Array[]) => {
      const all = new Float32Array(imgs.length * image.length);
      imgs.forEach((im, i) => all.set(im, i * image.length));
      const emb = await embedImages(this.ck.model, all, imgs.length);
      return imgs.map((_, i) => emb.slice(i * E, (i + 1) * E));
    });
  }

  /**
   * Texts → unit rows [n, E], as one job (text encodes are not shared across requests); a
   * multilingual model reads them in `lang` when given (checked by the caller), else each in its
   * script's language.
   */
  embedTexts(texts: string[], lang?: string): Promise<Float32Array> {
    const tok = this.ck.tokenizer;
    return this.queue.submit('embed-text', texts, async ([t]: string[][]) => [await embedTexts(this.ck.model, tok, t!, 64, t!.map((x) => queryLanguage(tok, x, lang)))], false);
  }

  /** The index's pictures best matching `text` (read in `lang` when given). */
  async searchImages(text: string, k: number, lang?: string): Promise<Hit[]> {
    const q = await this.embedTexts([text], lang);
    return topK(this.index!.embeddings, q, k);
  }

  /** Captions the index kept (datasets' captions), embedded once on first use. */
  indexCaptions(): { texts: string[]; emb: Promise<Float32Array> } | null {
    if (!this.indexTexts) {
      const texts = [...new Set((this.index?.items ?? []).flatMap((it) => it.captions ?? []))];
      if (texts.length === 0) return null;
      const emb = this.embedTexts(texts);
      emb.catch(() => (this.indexTexts = null));
      this.indexTexts = { texts, emb };
    }
    return this.indexTexts;
  }

  /** Candidate captions ranked by similarity to the picture. */
  async rankTexts(image: Float32Array, texts: string[], emb: Promise<Float32Array> | null, k: number, lang?: string): Promise<{ text: string; score: number }[]> {
    const img = await this.embedImage(image);
    const hits = topK(await (emb ?? this.embedTexts(texts, lang)), img, Math.min(k, texts.length));
    return hits.map((h) => ({ text: texts[h.index]!, score: h.score }));
  }

  /** Zero-shot probabilities of each label, best first. */
  async classify(image: Float32Array, labels: string[]): Promise<{ label: string; p: number }[]> {
    const key = labels.join('\n');
    let cls = this.classes.get(key);
    if (!cls) {
      cls = this.queue.submit('classes', labels, async ([l]: string[][]) => [await classEmbeddings(this.ck.model, this.ck.tokenizer, l!, DEFAULT_TEMPLATES)], false);
      cls.catch(() => this.classes.delete(key));
      // A small cache: the page sends the same label set again and again.
      if (this.classes.size >= 64) this.classes.delete(this.classes.keys().next().value!);
      this.classes.set(key, cls);
    }
    this.scale ??= this.queue.submit('scale', null, async () => [await logitScale(this.ck.model)], false);
    const [img, c, s] = await Promise.all([this.embedImage(image), cls, this.scale]);
    const probs = classify(img, c, this.ck.model.config.embed_dim, s);
    return labels.map((label, i) => ({ label, p: probs[i]! })).sort((a, b) => b.p - a.p);
  }
}
