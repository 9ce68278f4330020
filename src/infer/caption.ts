// Captions for a batch of images: encode the images once, then search over a stepper (the
// KV-cached one by default; full recomputation for comparisons and the benchmark).
import type { CocaModel } from '../model/coca.ts';
import { noGrad } from '../tensor/tape.ts';
import { tidy, type Tensor } from '../tensor/tensor.ts';
import { CachedStepper } from './kvcache.ts';
import { beamSearch, greedyOrSample, type Caption, type SearchOptions } from './search.ts';
import { RecomputeStepper, type Stepper } from './stepper.ts';

export interface CaptionOptions extends SearchOptions {
  /** No default here: DEFAULT_SEARCH is applied where a request comes in (checkSearch). */
  beams: number;
  /** 'cache' (default) or 'recompute'. */
  stepper?: 'cache' | 'recompute';
  /** Record the cross-attention of every generated token (Caption.attention). */
  recordAttention?: boolean;
}

/** One caption per image of `images` [B, 3, S, S] (normalised CHW). */
export async function captionImages(model: CocaModel, images: Float32Array, B: number, opts: CaptionOptions): Promise<Caption[]> {
  const patches = model.preparePatches(images, B);
  const image = noGrad(() => tidy(() => model.encodeImage(patches)));
  patches.release();
  try {
    return await captionTokens(model, image.tokens, opts);
  } finally {
    image.embedding.release();
    image.tokens.release();
  }
}

/** Captions from image tokens [B, Nimg, E] already computed. */
export async function captionTokens(model: CocaModel, imageTokens: Tensor, opts: CaptionOptions): Promise<Caption[]> {
  const sampling = opts.sample !== undefined;
  const beams = sampling ? 1 : opts.beams;
  const maxLen = Math.min(opts.maxLen, model.config.text_cfg.context_length);
  opts = { pad: model.config.text_cfg.pad_id, ...opts };
  const stepper: Stepper =
    opts.stepper === 'recompute' ? new RecomputeStepper(model, imageTokens, beams) : new CachedStepper(model, imageTokens, { beams, maxLen, recordAttention: opts.recordAttention });
  try {
    return beams === 1 ? await greedyOrSample(stepper, maxLen, opts) : await beamSearch(stepper, maxLen, opts);
  } finally {
    stepper.release();
  }
}
