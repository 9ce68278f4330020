// The parameter list of a config: names and shapes in open_clip's CoCa state-dict naming and
// order (torch's state_dict order: a module's own parameters, then its children in
// registration order), with each one's weight-decay flag and initialisation. Checkpoints, the
// optimizer and the TypeScript model all use this list; scripts/reference/coca_torch.py builds
// the same list and the parity fixture records it, so a drift shows up in a unit test.
//
// Layouts (torch's): a Linear weight is [out, in] and applies as x·Wᵀ + b; in_proj_weight is
// [3·d, d] with rows q, k, v; `visual.proj` and the `text_projection`s are [in, out] and
// apply as x·P. conv1.weight is [width, 3, p, p], applied to unfolded patches (c, ky, kx order).
import type { ParamInit, ParamSpec } from '../nn/params.ts';
import type { CocaConfig, VisionCfg } from './config.ts';
import { cnnLayout } from './cnn-layout.ts';

/** Derived sizes every tower needs, in one place. */
export function derived(c: CocaConfig): { grid: number; patches: number; imageTokens: number; textTokens: number } {
  const grid = c.vision_cfg.image_size / c.vision_cfg.patch_size;
  const q = c.vision_cfg.attn_pooler_queries;
  return {
    grid,
    patches: grid * grid,
    // With attentional_pool true, query 0 is the contrastive embedding and the rest are tokens.
    imageTokens: c.vision_cfg.attentional_pool === true ? q - 1 : q,
    textTokens: c.text_cfg.context_length,
  };
}

const normal = (std: number): ParamInit => ({ kind: 'normal', std });
const ZEROS: ParamInit = { kind: 'zeros' };
const ONES: ParamInit = { kind: 'ones' };
const mlpWidth = (d: number, ratio: number): number => Math.floor(d * ratio);

class Builder {
  readonly list: ParamSpec[] = [];
  add(name: string, shape: number[], init: ParamInit, decay = false): void {
    this.list.push({ name, shape, decay, init });
  }
  /** torch BatchNorm2d: weight, bias, then its running statistics (buffers, never trained). */
  batchNorm(p: string, d: number): void {
    this.add(`${p}.weight`, [d], ONES);
    this.add(`${p}.bias`, [d], ZEROS);
    this.list.push({ name: `${p}.running_mean`, shape: [d], decay: false, init: ZEROS, buffer: true });
    this.list.push({ name: `${p}.running_var`, shape: [d], decay: false, init: ONES, buffer: true });
  }
  layerNorm(p: string, d: number): void {
    this.add(`${p}.weight`, [d], ONES);
    this.add(`${p}.bias`, [d], ZEROS);
  }
  /** Multi-head attention with torch's names: fused in_proj when k/v width equals the query width. */
  attention(p: string, d: number, kv: number, inStd: number, kvStd: number, outStd: number): void {
    if (kv === d) {
      this.add(`${p}.in_proj_weight`, [3 * d, d], normal(inStd), true);
    } else {
      this.add(`${p}.q_proj_weight`, [d, d], normal(inStd), true);
      this.add(`${p}.k_proj_weight`, [d, kv], normal(kvStd), true);
      this.add(`${p}.v_proj_weight`, [d, kv], normal(kvStd), true);
    }
    this.add(`${p}.in_proj_bias`, [3 * d], ZEROS);
    this.add(`${p}.out_proj.weight`, [d, d], normal(outStd), true);
    this.add(`${p}.out_proj.bias`, [d], ZEROS);
  }
  /** Pre-LN residual block (open_clip ResidualAttentionBlock); `cross` adds ln_1_kv. */
  block(p: string, d: number, ratio: number, layers: number, cross = false): void {
    // GPT-2/CLIP scaling: residual-branch outputs shrink with depth so the stream's variance stays put.
    const attnStd = d ** -0.5;
    const projStd = d ** -0.5 * (2 * layers) ** -0.5;
    const fcStd = (2 * d) ** -0.5;
    const h = mlpWidth(d, ratio);
    this.layerNorm(`${p}.ln_1`, d);
    this.attention(`${p}.attn`, d, d, attnStd, attnStd, projStd);
    if (cross) this.layerNorm(`${p}.ln_1_kv`, d);
    this.layerNorm(`${p}.ln_2`, d);
    this.add(`${p}.mlp.c_fc.weight`, [h, d], normal(fcStd), true);
    this.add(`${p}.mlp.c_fc.bias`, [h], ZEROS);
    this.add(`${p}.mlp.c_proj.weight`, [d, h], normal(projStd), true);
    this.add(`${p}.mlp.c_proj.bias`, [d], ZEROS);
  }
  /** open_clip AttentionalPooler(d_model, context_dim, n_queries): query, attn, ln_q, ln_k. */
  pooler(p: string, d: number, ctx: number, queries: number): void {
    // The queries pass through ln_q before use, so their scale is immaterial; open_clip draws N(0, 1).
    this.add(`${p}.query`, [queries, d], normal(1));
    this.attention(`${p}.attn`, d, ctx, d ** -0.5, ctx ** -0.5, d ** -0.5);
    this.layerNorm(`${p}.ln_q`, d);
    this.layerNorm(`${p}.ln_k`, ctx);
  }
}

/**
 * The CNN tower's convolutions and batch norms (running statistics as buffers), in state-dict
 * order: what any model built on cnn-encoder.ts declares for it.
 */
export function cnnTowerSpecs(v: VisionCfg): ParamSpec[] {
  const b = new Builder();
  for (const conv of cnnLayout(v)) {
    // He's fan-out init (torchvision's kaiming_normal_, mode fan_out).
    b.add(`${conv.prefix}.weight`, [conv.cout, conv.cin, conv.k, conv.k], normal(Math.sqrt(2 / (conv.cout * conv.k * conv.k))), true);
    b.batchNorm(conv.bn, conv.cout);
  }
  return b.list;
}

/** Every parameter of the model, in state-dict order. */
export function parameterShapes(c: CocaConfig): ParamSpec[] {
  const b = new Builder();
  const { vision_cfg: v, text_cfg: t, multimodal_cfg: m, embed_dim: e } = c;
  const { patches } = derived(c);

  b.add('logit_scale', [], { kind: 'constant', value: Math.log(1 / 0.07) });

  // Unimodal text decoder (open_clip TextTransformer with embed_cls).
  b.add('text.cls_emb', [t.width], normal(0.01));
  b.add('text.positional_embedding', [t.context_length + 1, t.width], normal(0.01));
  b.add('text.text_projection', [t.width, e], normal(t.width ** -0.5), true);
  b.add('text.token_embedding.weight', [t.vocab_size, t.width], normal(0.02));
  for (let i = 0; i < t.layers; i++) b.block(`text.transformer.resblocks.${i}`, t.width, t.mlp_ratio, t.layers);
  b.layerNorm('text.ln_final', t.width);

  if (v.tower === 'cnn') {
    // The CNN tower (cnn-encoder.ts), torchvision ResNet names under visual.; proj is its own.
    b.add('visual.proj', [e, e], normal(e ** -0.5), true);
    b.list.push(...cnnTowerSpecs(v));
  } else {
    // Image encoder (open_clip VisionTransformer).
    b.add('visual.class_embedding', [v.width], normal(v.width ** -0.5));
    b.add('visual.positional_embedding', [patches + 1, v.width], normal(v.width ** -0.5));
    b.add('visual.proj', [e, e], normal(e ** -0.5), true);
    b.add('visual.conv1.weight', [v.width, 3, v.patch_size, v.patch_size], normal((3 * v.patch_size ** 2) ** -0.5), true);
    b.layerNorm('visual.ln_pre', v.width);
    for (let i = 0; i < v.layers; i++) b.block(`visual.transformer.resblocks.${i}`, v.width, v.mlp_ratio, v.layers);
  }
  // Its poolers read the tower's tokens (v.width wide: the last CNN stage's width for the CNN).
  b.pooler('visual.attn_pool', e, v.width, v.attn_pooler_queries);
  // Ours reads the captioning pooler's outputs (embed_dim wide); see docs/model.md on open_clip's.
  if (v.attentional_pool === 'cascade') b.pooler('visual.attn_pool_contrastive', e, e, 1);
  b.layerNorm('visual.ln_post', e);

  // Multimodal decoder (open_clip MultimodalTransformer): own parameter first, then children.
  b.add('text_decoder.text_projection', [m.width, m.vocab_size], normal(m.width ** -0.5), true);
  for (let i = 0; i < m.layers; i++) b.block(`text_decoder.resblocks.${i}`, m.width, m.mlp_ratio, m.layers);
  for (let i = 0; i < m.layers; i++) b.block(`text_decoder.cross_attn.${i}`, m.width, m.mlp_ratio, m.layers, true);
  b.layerNorm('text_decoder.ln_final', m.width);
  return b.list;
}

/** Trained parameters only: batch norm's running statistics are state, not parameters. */
export function countParams(c: CocaConfig): number {
  return parameterShapes(c).filter((p) => !p.buffer).reduce((s, p) => s + p.shape.reduce((a, d) => a * d, 1), 0);
}

export interface FlopCount {
  vision: number;
  pooler: number;
  text: number;
  decoder: number;
  contrastive: number;
  /** Sum of the above: one forward pass. */
  forward: number;
  /** 3 × forward: the backward of a matmul costs two matmuls of the same size. */
  step: number;
}

// FLOPs of one pre-LN block over B×T tokens of width d attending to S keys (S = T for
// self-attention; kv-width d for self, `kvWidth` for the k/v projections in cross-attention).
// Attention counts the full T×S score matrix even when causal: that is what a dense kernel
// computes, and it keeps the count independent of the kernel's masking strategy.
function blockFlops(B: number, T: number, d: number, ratio: number, S: number, kvRows: number): number {
  const h = mlpWidth(d, ratio);
  const q = 2 * B * T * d * d;
  const kv = 2 * 2 * B * kvRows * d * d;
  const scores = 2 * B * T * S * d; // QKᵀ, all heads together
  const mix = 2 * B * T * S * d; // P·V
  const out = 2 * B * T * d * d;
  const mlp = 2 * 2 * B * T * d * h;
  return q + kv + scores + mix + out + mlp;
}

// A pooler: the query projection does not depend on the image, so it is counted once per step.
function poolerFlops(B: number, queries: number, d: number, S: number, ctx: number): number {
  return 2 * queries * d * d + 2 * 2 * B * S * ctx * d + 2 * 2 * B * queries * S * d + 2 * B * queries * d * d;
}

/**
 * Matmul and attention FLOPs (2·M·N·K per matmul, attention's QKᵀ and P·V included) of one
 * training step at `batch` image–text pairs. LayerNorm, GELU, softmax, embeddings and losses
 * are not counted (they are O(size), not O(size·width)).
 */
export function stepFlops(c: CocaConfig, batch: number): FlopCount {
  const B = batch;
  const { vision_cfg: v, text_cfg: t, multimodal_cfg: m, embed_dim: e } = c;
  const { patches, imageTokens } = derived(c);
  const Tv = v.tower === 'cnn' ? patches : patches + 1;
  let vision = 0;
  if (v.tower === 'cnn') {
    for (const conv of cnnLayout(v)) vision += 2 * B * conv.outSide ** 2 * conv.cout * conv.cin * conv.k ** 2;
  } else {
    vision = 2 * B * patches * (3 * v.patch_size ** 2) * v.width; // patch embedding
    for (let i = 0; i < v.layers; i++) vision += blockFlops(B, Tv, v.width, v.mlp_ratio, Tv, Tv);
  }

  let pooler = poolerFlops(B, v.attn_pooler_queries, e, Tv, v.width);
  if (v.attentional_pool === 'cascade') pooler += poolerFlops(B, 1, e, v.attn_pooler_queries, e);
  pooler += 2 * B * e * e; // pooled @ visual.proj

  const Tt = t.context_length + 1; // text + CLS
  let text = 0;
  for (let i = 0; i < t.layers; i++) text += blockFlops(B, Tt, t.width, t.mlp_ratio, Tt, Tt);
  text += 2 * B * t.width * e; // CLS @ text_projection

  const Td = t.context_length;
  let decoder = 0;
  for (let i = 0; i < m.layers; i++) {
    decoder += blockFlops(B, Td, m.width, m.mlp_ratio, Td, Td);
    decoder += blockFlops(B, Td, m.width, m.mlp_ratio, imageTokens, imageTokens);
  }
  decoder += 2 * B * Td * m.width * m.vocab_size;

  const contrastive = 2 * B * B * e; // image·textᵀ; the text→image logits are its transpose
  const forward = vision + pooler + text + decoder + contrastive;
  return { vision, pooler, text, decoder, contrastive, forward, step: 3 * forward };
}
