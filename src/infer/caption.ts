// Captions for a batch of images: encode the images once, then search over a stepper (the
// KV-cached one by default; full recomputation for comparisons and the benchmark).
import type { CocaModel } from '../model/coca.ts';
import { noGrad } from '../tensor/tape.ts';
import { tidy, type Tensor } from '../tensor/tensor.ts';
import { normaliseRows } from './embed.ts';
import { greedyOnDevice, picksOnDevice } from './greedy-device.ts';
import { CachedStepper } from './kvcache.ts';
import { rerankCandidates, type RerankOptions } from './rerank.ts';
import { beamSearch, beamSearchCandidates, greedyOrSample, SearchError, type Caption, type SearchOptions } from './search.ts';
import { RecomputeStepper, type Stepper } from './stepper.ts';

export interface CaptionOptions extends SearchOptions {
  /** No default here: DEFAULT_SEARCH is applied where a request comes in (checkSearch). */
  beams: number;
  /** 'cache' (default) or 'recompute'. */
  stepper?: 'cache' | 'recompute';
  /** Record the cross-attention of every generated token (Caption.attention). */
  recordAttention?: boolean;
  /**
   * Greedy with the KV cache picks each token on the device and records the next step before the
   * last is read (src/infer/greedy-device.ts; the same captions). false: the CPU loop, a read per
   * step (`coca bench decode` times both).
   */
  pickOnDevice?: boolean;
  /** Choose among the beams' finished captions by image–text similarity (checkRerank: beams ≥ 2). */
  rerank?: RerankOptions;
}

/** One caption per image of `images` [B, 3, S, S] (normalised CHW). */
export async function captionImages(model: CocaModel, images: Float32Array, B: number, opts: CaptionOptions): Promise<Caption[]> {
  const patches = model.preparePatches(images, B);
  const image = noGrad(() => tidy(() => model.encodeImage(patches)));
  patches.release();
  try {
    if (!opts.rerank) return await captionTokens(model, image.tokens, opts);
    const beams = opts.sample ? 1 : opts.beams;
    if (beams < 2) throw new SearchError(`re-ranking chooses among beams: it needs 2 or more, not ${beams}`);
    const candidates = await withStepper(model, image.tokens, opts, (s, maxLen, o) => beamSearchCandidates(s, maxLen, o));
    const emb = normaliseRows(await image.embedding.toArray(), model.config.embed_dim);
    return await rerankCandidates(model, emb, candidates, { sot: opts.sot ?? 1, eot: opts.eot ?? 2, prefix: opts.prefix }, opts.rerank);
  } finally {
    image.embedding.release();
    image.tokens.release();
  }
}

/** Captions from image tokens [B, Nimg, E] already computed (no re-ranking: that needs the image embeddings). */
export async function captionTokens(model: CocaModel, imageTokens: Tensor, opts: CaptionOptions): Promise<Caption[]> {
  if (opts.rerank) throw new SearchError('re-ranking needs the image embeddings: caption with captionImages');
  return withStepper(model, imageTokens, opts, (s, maxLen, o) => {
    if (s.beams > 1) return beamSearch(s, maxLen, o);
    if (s instanceof CachedStepper && o.pickOnDevice !== false && picksOnDevice(s, o)) return greedyOnDevice(s, maxLen, o);
    return greedyOrSample(s, maxLen, o);
  });
}

/** Runs `run` over a stepper of `opts.beams` rows per image (1 when sampling), released after. */
async function withStepper<T>(model: CocaModel, imageTokens: Tensor, opts: CaptionOptions, run: (s: Stepper, maxLen: number, o: CaptionOptions) => Promise<T>): Promise<T> {
  const beams = opts.sample !== undefined ? 1 : opts.beams;
  const maxLen = Math.min(opts.maxLen, model.config.text_cfg.context_length);
  opts = { pad: model.config.text_cfg.pad_id, ...opts };
  const stepper: Stepper =
    opts.stepper === 'recompute' ? new RecomputeStepper(model, imageTokens, beams) : new CachedStepper(model, imageTokens, { beams, maxLen, recordAttention: opts.recordAttention });
  try {
    return await run(stepper, maxLen, opts);
  } finally {
    stepper.release();
  }
}
