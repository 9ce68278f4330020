// The image side of the LSTM captioners behind one small interface, so the tower can be chosen
// by config: for now CoCa's ViT read directly (no poolers), its class token after ln_post as the
// pooled embedding and its patch tokens as the feature map (G × G positions, row by row), which
// Show-Attend-Tell attends over and draws its per-word pictures on; or, with vision_cfg.tower
// "cnn", the CNN tower of cnn-encoder.ts (its global average pool and its last feature map).
import { block, norm } from '../nn/layers.ts';
import type { ParamSpec, ParamStore } from '../nn/params.ts';
import { linear } from '../tensor/ops/linear.ts';
import { addBroadcastRow, concatSeq, sliceSeq } from '../tensor/ops/sequence.ts';
import { reshape } from '../tensor/ops/shape.ts';
import { Tensor } from '../tensor/tensor.ts';
import type { Gpu } from '../gpu/gpu.ts';
import type { CocaConfig, VisionCfg } from './config-schema.ts';
import { cnnEncode } from './cnn-encoder.ts';
import type { EncoderCfg } from './captioners/config.ts';
import { unfoldPatches } from './patches.ts';
import { cnnTowerSpecs, parameterShapes } from './shapes.ts';

export interface EncodedImages {
  /** [B, embedWidth]: the pooled image. */
  embedding: Tensor;
  /** [B, G², featureWidth]: the feature map, row by row. */
  features: Tensor;
}

export interface ImageEncoder {
  readonly embedWidth: number;
  readonly featureWidth: number;
  /** The feature map is grid × grid. */
  readonly grid: number;
  /** Its parameters (names under `visual.`), in state-dict order. */
  readonly specs: ParamSpec[];
  /** Pictures [B, 3, S, S] (normalised CHW) → what the encoder takes, on the GPU. */
  prepare(gpu: Gpu, images: Float32Array, B: number): Tensor;
  encode(ps: ParamStore, input: Tensor, o: { training: boolean }): EncodedImages;
}

/** CoCa's ViT trunk (conv1, class token, positions, ln_pre, blocks) with an ln_post of its width. */
class VitEncoder implements ImageEncoder {
  readonly embedWidth: number;
  readonly featureWidth: number;
  readonly grid: number;
  readonly specs: ParamSpec[];

  constructor(readonly v: EncoderCfg) {
    this.embedWidth = this.featureWidth = v.width;
    this.grid = v.image_size / v.patch_size;
    // CoCa's own parameter list for this vision_cfg, its trunk kept (names, shapes, init).
    const stand = { embed_dim: v.width, vision_cfg: { ...v, attentional_pool: true, attn_pooler_queries: 2, attn_pooler_heads: 1 }, text_cfg: { context_length: 1, vocab_size: 1, width: v.width, heads: 1, layers: 0, mlp_ratio: 1, pad_id: 0 }, multimodal_cfg: { context_length: 1, vocab_size: 1, width: v.width, heads: 1, layers: 0, mlp_ratio: 1 } } as CocaConfig;
    const trunk = /^visual\.(class_embedding|positional_embedding|conv1\.weight|ln_pre\.|transformer\.)/;
    this.specs = [...parameterShapes(stand).filter((s) => trunk.test(s.name)), { name: 'visual.ln_post.weight', shape: [v.width], decay: false, init: { kind: 'ones' } }, { name: 'visual.ln_post.bias', shape: [v.width], decay: false, init: { kind: 'zeros' } }];
  }

  prepare(gpu: Gpu, images: Float32Array, B: number): Tensor {
    const { image_size: S, patch_size: p } = this.v;
    return Tensor.fromArray(gpu, unfoldPatches(images, B, S, p), [B, this.grid ** 2, 3 * p * p], 'patches');
  }

  encode(ps: ParamStore, patches: Tensor): EncodedImages {
    const v = this.v;
    const W = v.width;
    const B = patches.shape[0]!;
    const P = this.grid ** 2;
    let x = linear(patches, reshape(ps.get('visual.conv1.weight'), [W, 3 * v.patch_size ** 2]));
    x = concatSeq([reshape(ps.get('visual.class_embedding'), [1, W]), x]);
    x = addBroadcastRow(x, ps.get('visual.positional_embedding'));
    x = norm(ps, 'visual.ln_pre', x);
    for (let i = 0; i < v.layers; i++) x = block(ps, `visual.transformer.resblocks.${i}`, x, { heads: v.heads });
    x = norm(ps, 'visual.ln_post', x);
    return { embedding: reshape(sliceSeq(x, 0, 1), [B, W]), features: sliceSeq(x, 1, P) };
  }
}

/** The CNN tower (cnn-encoder.ts): its global average pool and its last feature map's pixels. */
class CnnEncoder implements ImageEncoder {
  readonly embedWidth: number;
  readonly featureWidth: number;
  readonly grid: number;
  readonly specs: ParamSpec[];

  constructor(readonly v: EncoderCfg) {
    // The tower reads only its own keys and image_size; the pooler keys CoCa's config adds are unused.
    this.embedWidth = this.featureWidth = v.width;
    this.grid = v.image_size / v.patch_size;
    this.specs = cnnTowerSpecs(this.asVision());
  }

  private asVision(): VisionCfg {
    return { ...this.v, attentional_pool: true, attn_pooler_queries: 2, attn_pooler_heads: 1 };
  }

  prepare(gpu: Gpu, images: Float32Array, B: number): Tensor {
    const S = this.v.image_size;
    return Tensor.fromArray(gpu, images, [B, 3, S, S], 'images');
  }

  encode(ps: ParamStore, images: Tensor, o: { training: boolean }): EncodedImages {
    return cnnEncode(ps, this.asVision(), images, { training: o.training });
  }
}

/** The encoder a vision_cfg describes: its "tower" (the ViT when absent). */
export function imageEncoder(v: EncoderCfg): ImageEncoder {
  return v.tower === 'cnn' ? new CnnEncoder(v) : new VitEncoder(v);
}
