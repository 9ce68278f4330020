// The CoCa model on the tape: ViT image encoder with attentional pooler(s), unimodal text
// decoder ending in a CLS token, multimodal decoder cross-attending to the image tokens. Every
// tensor, mask and LayerNorm placement follows docs/model.md; the parity test compares all of it
// with the PyTorch reference.
import type { Gpu } from '../gpu/gpu.ts';
import { ShapeError } from '../gpu/errors.ts';
import { attentionalPooler, block, norm, normed, type AttentionCache } from '../nn/layers.ts';
import { ParamStore } from '../nn/params.ts';
import { releaseTokenIds, uploadTokenIds, type DeviceTokenIds, type TokenIds } from '../tensor/ids.ts';
import { attentionPathAvailable, type AttentionPath } from '../tensor/ops/attention.ts';
import { embedding } from '../tensor/ops/embedding.ts';
import { linear, matmul } from '../tensor/ops/linear.ts';
import { concatSeq, sliceSeq } from '../tensor/ops/sequence.ts';
import { narrowRows, reshape } from '../tensor/ops/shape.ts';
import { Tensor } from '../tensor/tensor.ts';
import { Rng } from '../util/prng.ts';
import type { CocaConfig } from './config.ts';
import { derived, parameterShapes } from './shapes.ts';
import { cnnFeatureMap, mapTokens } from './cnn-encoder.ts';
import { unfoldPatches } from './patches.ts';

export interface CocaInputs {
  /** [B, 3, S, S] normalised pixels, CHW. */
  images: Float32Array;
  /** [B, L] token ids, rows [SOT] … [EOT] pad…, L ≤ context_length. */
  text: Int32Array;
  batch: number;
  /**
   * Training only: one id per row, rows sharing one being positives of each other in the
   * contrastive loss (`coca train --contrastive-positives`); absent: each row its own.
   */
  groups?: Int32Array;
}

/** Token ids on the GPU with the text tower's key mask. */
export interface PreparedText {
  B: number;
  L: number;
  ids: TokenIds;
  /** u32 [B, L+1]: 1 where the text tower may attend the key (not pad; the CLS slot always). */
  textKeyMask: GPUBuffer;
  text: Int32Array;
  release(): void;
}

/** Per-batch GPU inputs: patches, token ids and the text tower's key mask. */
export interface PreparedInputs extends PreparedText {
  patches: Tensor;
  /** CocaInputs.groups, carried to the contrastive loss. */
  groups?: Int32Array;
}

export interface CocaOutputs {
  /** pooled @ visual.proj, [B, E], before normalisation. */
  imageEmbedding: Tensor;
  imageTokens: Tensor;
  /** ln_final(cls) @ text.text_projection, [B, E], before normalisation. */
  textEmbedding: Tensor;
  textTokens: Tensor;
  /** [B, L, V] decoder logits at every position. */
  logits: Tensor;
}

/** A decoding step's tokens already on the device: `rows` u32 ids from word 0, each below `vocab` (kernels/argmax.ts writes them). */
export interface StepIds {
  buffer: GPUBuffer;
  rows: number;
  vocab: number;
}

/**
 * Per attention layer, what incremental decoding keeps between steps (src/infer/kvcache.ts):
 * the text tower's self-attention, the multimodal decoder's self- and cross-attention.
 */
export interface DecodeCaches {
  text: readonly AttentionCache[];
  self: readonly AttentionCache[];
  cross: readonly AttentionCache[];
  /** Decoder layer i writes its cross-attention weights [N, H, 1, Nimg] to crossProbs[i], if given. */
  crossProbs?: readonly GPUBuffer[];
}

export class CocaModel {
  readonly dims: ReturnType<typeof derived>;
  /**
   * Forces the attention path in every layer whose head dim it can serve (tests compare both);
   * the others take the unfused path (the parity config's vision tower, head dim 10). The tensor
   * op refuses a path that cannot run, and attentionRuns() counts which ran.
   */
  attentionPath?: AttentionPath;

  constructor(
    readonly gpu: Gpu,
    readonly config: CocaConfig,
    readonly params: ParamStore,
  ) {
    this.dims = derived(config);
    const E = config.embed_dim;
    if (config.multimodal_cfg.width !== E || config.text_cfg.width !== E) {
      throw new ShapeError(`config: embed_dim (${E}), text width (${config.text_cfg.width}) and multimodal width (${config.multimodal_cfg.width}) must be equal`);
    }
  }

  /** A freshly initialised model (deterministic for a seed). */
  static init(gpu: Gpu, config: CocaConfig, seed: number): CocaModel {
    return new CocaModel(gpu, config, ParamStore.create(gpu, parameterShapes(config), new Rng(seed)));
  }

  /** Images [B, 3, S, S] → the patch rows the ViT reads (the CNN tower: the images as they are), on the GPU. */
  preparePatches(images: Float32Array, B: number): Tensor {
    const { image_size: S, patch_size: p, tower } = this.config.vision_cfg;
    if (tower === 'cnn') return Tensor.fromArray(this.gpu, images, [B, 3, S, S], 'images');
    return Tensor.fromArray(this.gpu, unfoldPatches(images, B, S, p), [B, (S / p) ** 2, 3 * p * p], 'patches');
  }

  /** Token ids [B, L] → ids on the GPU and the text tower's key mask. */
  prepareText(text: Int32Array, B: number): PreparedText {
    const L = text.length / B;
    if (!Number.isInteger(L) || L < 1) throw new ShapeError(`text has ${text.length} ids, not ${B} rows`);
    if (L > this.config.text_cfg.context_length) throw new ShapeError(`text rows of ${L} tokens exceed context_length ${this.config.text_cfg.context_length}`);
    const gpu = this.gpu;
    const ids = uploadTokenIds(gpu, text, { shape: [B, L], vocab: this.config.text_cfg.vocab_size, label: 'text' });
    const pad = this.config.text_cfg.pad_id;
    // open_clip's legacy mask (correct_cls_mask false) puts the CLS slot's "always valid" at the
    // front, shifting every token's validity one key to the right.
    const shift = this.config.text_cfg.correct_cls_mask === false ? 1 : 0;
    const mask = new Uint32Array(B * (L + 1));
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < L; t++) mask[b * (L + 1) + t + shift] = text[b * L + t] === pad ? 0 : 1;
      mask[b * (L + 1) + (shift ? 0 : L)] = 1;
    }
    const textKeyMask = gpu.upload(mask, 'text.key_mask');
    return {
      B,
      L,
      ids,
      textKeyMask,
      text,
      release: () => {
        releaseTokenIds(gpu, ids);
        gpu.release(textKeyMask);
      },
    };
  }

  prepare(inputs: CocaInputs): PreparedInputs {
    const text = this.prepareText(inputs.text, inputs.batch);
    const patches = this.preparePatches(inputs.images, inputs.batch);
    return {
      ...text,
      patches,
      ...(inputs.groups ? { groups: inputs.groups } : {}),
      release: () => {
        text.release();
        patches.release();
      },
    };
  }

  /** The path forced on layers of this width and head count (see attentionPath). */
  private pathFor(width: number, heads: number): AttentionPath | undefined {
    const p = this.attentionPath;
    return p && !attentionPathAvailable(this.gpu, p, width / heads) ? 'unfused' : p;
  }

  /**
   * The image tower's tokens [B, N, width] before the poolers: the ViT's (class token first,
   * N = 1 + grid²), or the CNN's final map's pixels (N = grid², no class token).
   */
  towerTokens(patches: Tensor): Tensor {
    const ps = this.params;
    const v = this.config.vision_cfg;
    if (v.tower === 'cnn') return mapTokens(cnnFeatureMap(ps, v, patches));
    const W = v.width;
    const path = this.pathFor(W, v.heads);
    const conv = reshape(ps.get('visual.conv1.weight'), [W, 3 * v.patch_size ** 2]);
    let x = linear(patches, conv);
    x = concatSeq([ps.get('visual.class_embedding'), x], undefined, ps.get('visual.positional_embedding'));
    x = norm(ps, 'visual.ln_pre', x);
    for (let i = 0; i < v.layers; i++) x = block(ps, `visual.transformer.resblocks.${i}`, x, { heads: v.heads, path });
    return x;
  }

  encodeImage(patches: Tensor): { embedding: Tensor; tokens: Tensor } {
    const ps = this.params;
    const v = this.config.vision_cfg;
    const B = patches.shape[0]!;
    const poolPath = this.pathFor(this.config.embed_dim, v.attn_pooler_heads);
    const x = this.towerTokens(patches);
    let pooled: Tensor;
    let tokens: Tensor;
    if (v.attentional_pool === 'cascade') {
      tokens = norm(ps, 'visual.ln_post', attentionalPooler(ps, 'visual.attn_pool', x, v.attn_pooler_heads, poolPath));
      pooled = attentionalPooler(ps, 'visual.attn_pool_contrastive', tokens, v.attn_pooler_heads, poolPath);
    } else {
      const y = norm(ps, 'visual.ln_post', attentionalPooler(ps, 'visual.attn_pool', x, v.attn_pooler_heads, poolPath));
      pooled = sliceSeq(y, 0, 1);
      tokens = sliceSeq(y, 1, v.attn_pooler_queries - 1);
    }
    const E = this.config.embed_dim;
    return { embedding: matmul(reshape(pooled, [B, E]), ps.get('visual.proj')), tokens };
  }

  encodeText(inp: PreparedText): { embedding: Tensor; tokens: Tensor } {
    const ps = this.params;
    const t = this.config.text_cfg;
    const { B, L } = inp;
    const E = t.width;
    let x = embedding(ps.get('text.token_embedding.weight'), inp.ids);
    x = concatSeq([x, ps.get('text.cls_emb')], undefined, narrowRows(ps.get('text.positional_embedding'), 0, L + 1));
    for (let i = 0; i < t.layers; i++) {
      x = block(ps, `text.transformer.resblocks.${i}`, x, { heads: t.heads, causal: true, keyMask: inp.textKeyMask, path: this.pathFor(E, t.heads) });
    }
    const cls = reshape(sliceSeq(x, L, 1), [B, E]);
    const embeddingRaw = matmul(normed(ps, 'text.ln_final', cls), ps.get('text.text_projection'));
    return { embedding: embeddingRaw, tokens: sliceSeq(x, 0, L) };
  }

  /**
   * The multimodal decoder: text tokens [B, L, E] and image tokens [B, Nimg, E] → logits
   * [B, L, V]. With caches, textTokens are the one new position of each row and the attention
   * layers take earlier positions and the image's keys and values from the caches.
   */
  decode(textTokens: Tensor, imageTokens: Tensor, caches?: DecodeCaches): Tensor {
    const ps = this.params;
    const m = this.config.multimodal_cfg;
    const [B, L, E] = textTokens.shape as [number, number, number];
    let x = textTokens;
    const s = { heads: m.heads, path: this.pathFor(E, m.heads) };
    for (let i = 0; i < m.layers; i++) {
      x = block(ps, `text_decoder.resblocks.${i}`, x, { ...s, causal: true, cache: caches?.self[i] });
      x = block(ps, `text_decoder.cross_attn.${i}`, x, { ...s, cache: caches?.cross[i], probs: caches?.crossProbs?.[i] }, imageTokens);
    }
    const h = normed(ps, 'text_decoder.ln_final', reshape(x, [B * L, E]));
    return reshape(matmul(h, ps.get('text_decoder.text_projection')), [B, L, m.vocab_size]);
  }

  /**
   * One step of incremental decoding: tokens [N] at sequence position `position` of each row →
   * next-token logits [N, V], through the same blocks as encodeText and decode, with earlier
   * positions in the caches. The text tower's CLS slot is never computed: it sits after the text,
   * so causally no text position sees it.
   */
  decodeStep(tokens: Int32Array | StepIds, position: number, imageTokens: Tensor, caches: DecodeCaches): Tensor {
    const ps = this.params;
    const t = this.config.text_cfg;
    const onDevice = !(tokens instanceof Int32Array);
    const N = onDevice ? tokens.rows : tokens.length;
    if (position < 0 || position >= t.context_length) throw new ShapeError(`decodeStep: position ${position} is outside the context of ${t.context_length}`);
    if (onDevice && tokens.vocab > t.vocab_size) throw new ShapeError(`decodeStep: ids picked over ${tokens.vocab} logits cannot index the text tower's ${t.vocab_size} token embeddings`);
    // Uploaded without the backward index (a decoding step has no backward; the gather checks the range).
    const ids: TokenIds | DeviceTokenIds = onDevice ? { host: null, buffer: tokens.buffer, shape: [N, 1], vocab: tokens.vocab } : uploadTokenIds(this.gpu, tokens, { shape: [N, 1], label: 'step.ids' });
    try {
      // The position's row is added in the gather's pass (no dispatch of its own).
      let x = embedding(ps.get('text.token_embedding.weight'), ids, narrowRows(ps.get('text.positional_embedding'), position, 1));
      for (let i = 0; i < t.layers; i++) {
        x = block(ps, `text.transformer.resblocks.${i}`, x, { heads: t.heads, causal: true, path: this.pathFor(t.width, t.heads), cache: caches.text[i] });
      }
      return reshape(this.decode(x, imageTokens, caches), [N, this.config.multimodal_cfg.vocab_size]);
    } finally {
      if (ids.host) releaseTokenIds(this.gpu, ids);
    }
  }

  forward(inp: PreparedInputs): CocaOutputs {
    const image = this.encodeImage(inp.patches);
    const text = this.encodeText(inp);
    const logits = this.decode(text.tokens, image.tokens);
    return { imageEmbedding: image.embedding, imageTokens: image.tokens, textEmbedding: text.embedding, textTokens: text.tokens, logits };
  }
}
