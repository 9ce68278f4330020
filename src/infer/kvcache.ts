// Incremental decoding with a KV cache. Both causal stacks, the unimodal text tower and the
// multimodal decoder's self-attention, keep per layer one buffer [N, Lmax, 2E] holding each
// position's key | value row; a step appends row t and runs one query against rows 0..t. The
// cross-attention keys and values over the image tokens are computed once per image. One step is
// one batch of dispatches for all N = images × beams rows, then one read of the logits [N, V].
//
// Every op is the one the full forward uses (the same layer functions, the same kernels on the
// same rows), so the logits match recomputation; test/infer/kvcache.test.ts holds it to that.
// The text tower's CLS slot is never computed: it sits after the text, so causally no text
// position sees it.
import { attention as attentionKernel, releaseAttentionSaved } from '../../kernels/attention.ts';
import { copyRows } from '../../kernels/copy.ts';
import { embedding as embeddingKernel, releaseTokenIds, uploadTokenIds } from '../../kernels/embedding.ts';
import { ShapeError } from '../gpu/errors.ts';
import type { Gpu } from '../gpu/gpu.ts';
import type { CocaModel } from '../model/coca.ts';
import { mlp, norm } from '../nn/layers.ts';
import { embedding } from '../tensor/ops/embedding.ts';
import { linear, matmul } from '../tensor/ops/linear.ts';
import { add } from '../tensor/ops/pointwise.ts';
import { addBroadcastRow } from '../tensor/ops/sequence.ts';
import { narrowRows, reshape } from '../tensor/ops/shape.ts';
import { noGrad } from '../tensor/tape.ts';
import { Tensor, persist, tidy } from '../tensor/tensor.ts';
import { repeatImages, type Stepper } from './stepper.ts';

export interface CachedStepperOptions {
  beams?: number;
  /** Longest prefix the caches hold (default and maximum: context_length). */
  maxLen?: number;
  /** Keep each step's cross-attention weights (forces the attention kernel's unfused path). */
  recordAttention?: boolean;
}

export class CachedStepper implements Stepper {
  readonly rows: number;
  readonly beams: number;
  readonly vocab: number;
  length = 0;
  private readonly gpu: Gpu;
  private readonly E: number;
  private readonly Lmax: number;
  /** Per layer, [N, Lmax, 2E]: text tower layers first, then decoder self-attention layers. */
  private caches: GPUBuffer[];
  /** Per decoder layer, ln_1_kv(image) projected to k | v: [N, Nimg, 2E]. */
  private readonly crossKV: Tensor[];
  private readonly nImg: number;
  private readonly probs: GPUBuffer | null;
  private lastProbs: Float32Array | null = null;

  constructor(
    private readonly model: CocaModel,
    imageTokens: Tensor,
    opts: CachedStepperOptions = {},
  ) {
    const c = model.config;
    this.gpu = model.gpu;
    this.beams = opts.beams ?? 1;
    this.rows = imageTokens.shape[0]! * this.beams;
    this.vocab = c.multimodal_cfg.vocab_size;
    this.E = c.embed_dim;
    this.nImg = imageTokens.shape[1]!;
    this.Lmax = Math.min(opts.maxLen ?? c.text_cfg.context_length, c.text_cfg.context_length);
    const layers = c.text_cfg.layers + c.multimodal_cfg.layers;
    this.caches = Array.from({ length: layers }, (_, i) => this.gpu.alloc(this.rows * this.Lmax * 2 * this.E, `kv_cache.${i}`));
    const ps = model.params;
    const E = this.E;
    this.crossKV = noGrad(() =>
      tidy(() => {
        const img = repeatImages(imageTokens, this.beams);
        return Array.from({ length: c.multimodal_cfg.layers }, (_, i) => {
          const p = `text_decoder.cross_attn.${i}`;
          const w = ps.get(`${p}.attn.in_proj_weight`);
          const b = ps.get(`${p}.attn.in_proj_bias`);
          return linear(norm(ps, `${p}.ln_1_kv`, img), narrowRows(w, E, 2 * E), narrowRows(b, E, 2 * E));
        });
      }),
    ).map(persist);
    this.probs = opts.recordAttention ? this.gpu.alloc(this.rows * c.multimodal_cfg.layers * c.multimodal_cfg.heads * this.nImg, 'cross_attention.probs') : null;
  }

  async step(tokens: Int32Array): Promise<Float32Array> {
    const { rows: N, E, model } = this;
    if (tokens.length !== N) throw new ShapeError(`step: ${tokens.length} tokens for ${N} rows`);
    if (this.length >= this.Lmax) throw new ShapeError(`step: the cache holds ${this.Lmax} positions and all are used`);
    const t = this.length;
    const ps = model.params;
    const c = model.config;
    const ids = uploadTokenIds(this.gpu, tokens, { shape: [N, 1], vocab: this.vocab, label: 'step.ids' });
    try {
      const logits = noGrad(() =>
        tidy(() => {
          let x = embedding(ps.get('text.token_embedding.weight'), ids);
          x = addBroadcastRow(x, narrowRows(ps.get('text.positional_embedding'), t, 1));
          for (let i = 0; i < c.text_cfg.layers; i++) x = this.selfBlock(`text.transformer.resblocks.${i}`, x, i, c.text_cfg.heads);
          for (let i = 0; i < c.multimodal_cfg.layers; i++) {
            x = this.selfBlock(`text_decoder.resblocks.${i}`, x, c.text_cfg.layers + i, c.multimodal_cfg.heads);
            x = this.crossBlock(i, x);
          }
          const h = reshape(norm(ps, 'text_decoder.ln_final', x), [N, E]);
          return matmul(h, ps.get('text_decoder.text_projection'));
        }),
      );
      this.length++;
      try {
        const out = await logits.toArray();
        if (this.probs) this.lastProbs = await this.gpu.read(this.probs, N * c.multimodal_cfg.layers * c.multimodal_cfg.heads * this.nImg);
        return out;
      } finally {
        logits.release();
      }
    } finally {
      releaseTokenIds(this.gpu, ids);
    }
  }

  /** Pre-LN self-attention block over the cache of `layer`, at position this.length. */
  private selfBlock(prefix: string, x: Tensor, layer: number, heads: number): Tensor {
    const ps = this.model.params;
    const { rows: N, E, Lmax } = this;
    const t = this.length;
    const cache = this.caches[layer]!;
    const h = norm(ps, `${prefix}.ln_1`, x);
    const qkv = linear(h, ps.get(`${prefix}.attn.in_proj_weight`), ps.get(`${prefix}.attn.in_proj_bias`));
    // Append this position's k | v (columns E..3E of the fused projection) as cache row t.
    copyRows(this.gpu, {
      src: qkv.buffer,
      dst: cache,
      B: N,
      R: 1,
      C: 2 * E,
      srcLayout: { offset: qkv.offset + E, batchStride: 3 * E, rowStride: 3 * E },
      dstLayout: { offset: t * 2 * E, batchStride: Lmax * 2 * E, rowStride: 2 * E },
      label: 'kv_append',
    });
    const o = this.attend(qkv, 3 * E, cache, 0, Lmax * 2 * E, t + 1, heads, null);
    const a = linear(o, ps.get(`${prefix}.attn.out_proj.weight`), ps.get(`${prefix}.attn.out_proj.bias`));
    const x1 = add(x, a);
    return add(x1, mlp(ps, `${prefix}.mlp`, norm(ps, `${prefix}.ln_2`, x1)));
  }

  private crossBlock(i: number, x: Tensor): Tensor {
    const ps = this.model.params;
    const { E, nImg } = this;
    const p = `text_decoder.cross_attn.${i}`;
    const h = norm(ps, `${p}.ln_1`, x);
    const q = linear(h, narrowRows(ps.get(`${p}.attn.in_proj_weight`), 0, E), narrowRows(ps.get(`${p}.attn.in_proj_bias`), 0, E));
    const kv = this.crossKV[i]!;
    const heads = this.model.config.multimodal_cfg.heads;
    const probsAt = this.probs ? i * heads * nImg : null;
    const o = this.attend(q, E, kv.buffer, kv.offset, nImg * 2 * E, nImg, heads, probsAt);
    const a = linear(o, ps.get(`${p}.attn.out_proj.weight`), ps.get(`${p}.attn.out_proj.bias`));
    const x1 = add(x, a);
    return add(x1, mlp(ps, `${p}.mlp`, norm(ps, `${p}.ln_2`, x1)));
  }

  /**
   * One query row per batch row (q: columns 0..E of a [N, 1, qStride] tensor) against Lk key | value
   * rows of 2E floats at kvOffset, batch stride kvStride. Causal with one query is "see all Lk".
   */
  private attend(q: Tensor, qStride: number, kv: GPUBuffer, kvOffset: number, kvStride: number, Lk: number, H: number, probsAt: number | null): Tensor {
    const { rows: N, E, gpu } = this;
    const D = E / H;
    const o = Tensor.empty(gpu, [N, 1, E], 'attention');
    const probs = probsAt === null ? undefined : gpu.alloc(N * H * Lk, 'cross_attention.step_probs');
    const saved = attentionKernel(gpu, {
      B: N,
      H,
      Lq: 1,
      Lk,
      D,
      q: { buffer: q.buffer, offset: q.offset, strides: [qStride, D, qStride] },
      k: { buffer: kv, offset: kvOffset, strides: [kvStride, D, 2 * E] },
      v: { buffer: kv, offset: kvOffset + E, strides: [kvStride, D, 2 * E] },
      o: { buffer: o.buffer, offset: o.offset, strides: [E, D, E] },
      causal: true,
      path: this.model.attentionPath,
      probs,
      label: 'attention_step',
    });
    releaseAttentionSaved(gpu, saved);
    if (probs && this.probs && probsAt !== null) {
      // [N, H, 1, Lk] → slot `layer` of [N, layers, H, Lk].
      const layers = this.model.config.multimodal_cfg.layers;
      copyRows(gpu, { src: probs, dst: this.probs, B: N, R: 1, C: H * Lk, srcLayout: { offset: 0, batchStride: H * Lk, rowStride: H * Lk }, dstLayout: { offset: probsAt, batchStride: layers * H * Lk, rowStride: H * Lk }, label: 'probs_keep' });
      gpu.release(probs);
    }
    return o;
  }

  reorder(parents: Int32Array): void {
    const { rows: N, gpu } = this;
    if (parents.length !== N) throw new ShapeError(`reorder: ${parents.length} parents for ${N} rows`);
    if (parents.every((p, n) => p === n)) return;
    // A row gather is an embedding lookup with the old cache as the table.
    const ids = uploadTokenIds(gpu, parents, { label: 'beam.parents' });
    const width = this.Lmax * 2 * this.E;
    this.caches = this.caches.map((old, i) => {
      const fresh = gpu.alloc(N * width, `kv_cache.${i}`);
      embeddingKernel(gpu, { ids, table: { buffer: old, shape: [N, width] }, out: { buffer: fresh, shape: [N, width] }, label: 'kv_reorder' });
      gpu.release(old);
      return fresh;
    });
    releaseTokenIds(gpu, ids);
  }

  crossAttention(): Float32Array | null {
    return this.lastProbs;
  }

  release(): void {
    for (const b of this.caches) this.gpu.release(b);
    this.caches = [];
    for (const t of this.crossKV) t.release();
    if (this.probs) this.gpu.release(this.probs);
  }
}
