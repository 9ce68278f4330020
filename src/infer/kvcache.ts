// Incremental decoding with a KV cache: the bookkeeping around CocaModel.decodeStep. Both causal
// stacks, the unimodal text tower and the multimodal decoder's self-attention, keep per layer one
// tensor [N, Lmax, 2E] holding each position's key | value row; a step appends row t and runs one
// query against rows 0..t. The cross-attention keys and values over the image tokens are projected
// once, on the first step. One step is one batch of dispatches for all N = images × beams rows,
// then one read of the logits [N, V] (step), or no read at all (stepOnDevice: greedy decoding picks
// on the device and reads the logits later, src/infer/greedy-device.ts).
//
// The step runs the blocks of the full forward (nn/layers.ts block() with a cache), so the logits
// match recomputation; test/infer/kvcache.test.ts holds it to that bit for bit.
import { ShapeError } from '../gpu/errors.ts';
import type { Gpu } from '../gpu/gpu.ts';
import type { CocaModel, DecodeCaches, StepIds } from '../model/coca.ts';
import type { AttentionCache, KeysValues } from '../nn/layers.ts';
import { gatherRows, repeatBatch, writeRows } from '../tensor/ops/rows.ts';
import { noGrad } from '../tensor/tape.ts';
import { Tensor, persist, tidy } from '../tensor/tensor.ts';
import type { Stepper } from './stepper.ts';

export interface CachedStepperOptions {
  /** Rows per image (1 for greedy and sampling). */
  beams: number;
  /** Longest prefix the caches hold (default and maximum: context_length). */
  maxLen?: number;
  /** Keep each step's cross-attention weights (forces the attention kernel's unfused path). */
  recordAttention?: boolean;
}

/** A self-attention layer's keys | values of every position so far: [N, Lmax, 2E], `length` rows filled. */
class SelfAttentionCache implements AttentionCache {
  length = 0;

  constructor(public kv: Tensor) {}

  keysValues(project: () => KeysValues): KeysValues {
    const { k, v } = project();
    // The attention step writes the new row into the cache itself (inside its dispatch on the
    // fused path), so appending costs no dispatch of its own.
    return { ...this.grow(), append: { k, v } };
  }

  grow(): KeysValues {
    const [, Lmax, width] = this.kv.shape as [number, number, number];
    const E = width / 2;
    if (this.length >= Lmax) throw new ShapeError(`step: the cache holds ${Lmax} positions and all are used`);
    this.length++;
    return { k: { t: this.kv, col: 0, rows: this.length }, v: { t: this.kv, col: E, rows: this.length } };
  }
}

/** A cross-attention layer's keys and values over the image: projected on first use, then kept. */
class ImageCache implements AttentionCache {
  kv: KeysValues | null = null;

  keysValues(project: () => KeysValues): KeysValues {
    if (!this.kv) {
      this.kv = project();
      persist(this.kv.k.t);
      persist(this.kv.v.t);
    }
    return this.kv;
  }

  release(): void {
    this.kv?.k.t.release();
    this.kv?.v.t.release();
  }
}

export class CachedStepper implements Stepper {
  readonly rows: number;
  readonly beams: number;
  readonly vocab: number;
  length = 0;
  readonly gpu: Gpu;
  private readonly Lmax: number;
  /** Image tokens repeated for the beams, [N, Nimg, E]: what the first step projects for cross-attention. */
  private readonly image: Tensor;
  private readonly textCaches: SelfAttentionCache[];
  private readonly selfCaches: SelfAttentionCache[];
  private readonly crossCaches: ImageCache[];
  private readonly nImg: number;
  /** With attention recording: the last step's cross-attention weights [N, layers, H·Nimg]. */
  private readonly probs: Tensor | null;
  private lastProbs: Float32Array | null = null;

  constructor(
    private readonly model: CocaModel,
    imageTokens: Tensor,
    opts: CachedStepperOptions,
  ) {
    const c = model.config;
    this.gpu = model.gpu;
    this.beams = opts.beams;
    this.rows = imageTokens.shape[0]! * this.beams;
    this.vocab = c.multimodal_cfg.vocab_size;
    this.nImg = imageTokens.shape[1]!;
    this.Lmax = Math.min(opts.maxLen ?? c.text_cfg.context_length, c.text_cfg.context_length);
    const cache = (i: number) => new SelfAttentionCache(persist(Tensor.empty(this.gpu, [this.rows, this.Lmax, 2 * c.embed_dim], `kv_cache.${i}`)));
    this.textCaches = Array.from({ length: c.text_cfg.layers }, (_, i) => cache(i));
    this.selfCaches = Array.from({ length: c.multimodal_cfg.layers }, (_, i) => cache(c.text_cfg.layers + i));
    this.crossCaches = Array.from({ length: c.multimodal_cfg.layers }, () => new ImageCache());
    this.image = persist(noGrad(() => repeatBatch(imageTokens, this.beams, 'repeat_images')));
    const m = c.multimodal_cfg;
    this.probs = opts.recordAttention ? persist(Tensor.empty(this.gpu, [this.rows, m.layers, m.heads * this.nImg], 'cross_attention.probs')) : null;
  }

  async step(tokens: Int32Array): Promise<Float32Array> {
    const logits = this.stepOnDevice(tokens);
    try {
      const out = await logits.toArray();
      if (this.probs) this.lastProbs = await this.probs.toArray();
      return out;
    } finally {
      logits.release();
    }
  }

  /**
   * Records a step without reading anything back: the logits [N, V] stay on the device (the
   * caller releases them). `tokens` may already be there (StepIds: the last step's device pick),
   * so greedy decoding can record step t + 1 before step t has run (src/infer/greedy-device.ts).
   */
  stepOnDevice(tokens: Int32Array | StepIds): Tensor {
    const { rows: N, model } = this;
    const given = tokens instanceof Int32Array ? tokens.length : tokens.rows;
    if (given !== N) throw new ShapeError(`step: ${given} tokens for ${N} rows`);
    if (this.length >= this.Lmax) throw new ShapeError(`step: the cache holds ${this.Lmax} positions and all are used`);
    const m = model.config.multimodal_cfg;
    const logits = noGrad(() =>
      tidy(() => {
        // Each decoder layer's weights [N, H, 1, Nimg], kept in slot i of this.probs.
        const probs = this.probs ? Array.from({ length: m.layers }, () => Tensor.empty(this.gpu, [N, 1, m.heads * this.nImg], 'cross_attention.step_probs')) : null;
        const caches: DecodeCaches = { text: this.textCaches, self: this.selfCaches, cross: this.crossCaches, crossProbs: probs?.map((p) => p.buffer) };
        const out = model.decodeStep(tokens, this.length, this.image, caches);
        probs?.forEach((p, i) => writeRows(this.probs!, i, 0, p, 0, m.heads * this.nImg, 'probs_keep'));
        return out;
      }),
    );
    this.length++;
    return logits;
  }

  /** Whether this stepper keeps each step's cross-attention (then every step must be read at once). */
  get recordsAttention(): boolean {
    return this.probs !== null;
  }

  /**
   * Forgets every position from `length` on: the next step is fed at position `length` and
   * overwrites what the caches held there (a pipelined search that fed a token it then found wrong).
   */
  rewind(length: number): void {
    if (!Number.isInteger(length) || length < 0 || length > this.length) throw new ShapeError(`rewind: to ${length} positions, but ${this.length} are fed`);
    this.length = length;
    for (const c of [...this.textCaches, ...this.selfCaches]) c.length = length;
  }

  reorder(parents: Int32Array): void {
    const N = this.rows;
    if (parents.length !== N) throw new ShapeError(`reorder: ${parents.length} parents for ${N} rows`);
    if (parents.every((p, n) => p === n)) return;
    // Every beam of an image attends over the same image, so only the self-attention caches move.
    const caches = [...this.textCaches, ...this.selfCaches];
    const fresh = noGrad(() => gatherRows(caches.map((c) => c.kv), parents, 'kv_reorder'));
    caches.forEach((c, i) => {
      c.kv.release();
      c.kv = persist(fresh[i]!);
    });
  }

  crossAttention(): Float32Array | null {
    return this.lastProbs;
  }

  release(): void {
    for (const c of [...this.textCaches, ...this.selfCaches]) c.kv.release();
    for (const c of this.crossCaches) c.release();
    this.image.release();
    this.probs?.release();
  }
}
