// The building blocks of the model, as functions of a ParamStore and a name prefix, so each
// reads its parameters by their open_clip names. Shapes and semantics: docs/model.md.
import { attentionOutProj, decodeBranch, decodeBranchFits, type AttentionPath, type BranchInput, type HeadsView } from '../tensor/ops/attention.ts';
import { layerNorm } from '../tensor/ops/layernorm.ts';
import { linear, mlpGelu } from '../tensor/ops/linear.ts';
import { materialise, type PreNormed, type ProductInput } from '../tensor/ops/prenorm.ts';
import { expandBatch, narrowRows } from '../tensor/ops/shape.ts';
import { Tensor } from '../tensor/tensor.ts';
import type { ParamStore } from './params.ts';

export interface AttentionSettings {
  heads: number;
  causal?: boolean;
  /** u32 [B, Lk], nonzero = attend. */
  keyMask?: GPUBuffer;
  path?: AttentionPath;
  /** Inference: where to write this layer's attention weights [B, H, Lq, Lk]. */
  probs?: GPUBuffer;
  /** Incremental decoding: where this layer's keys and values come from (AttentionCache). */
  cache?: AttentionCache;
}

/** The keys and values one attention layer attends over. */
export interface KeysValues {
  k: HeadsView;
  v: HeadsView;
  /** A self-attention cache: this call's new key and value rows, which the attention writes into k and v. */
  append?: { k: HeadsView; v: HeadsView };
}

/**
 * What incremental (KV-cached) decoding keeps for one attention layer between steps
 * (src/infer/kvcache.ts). `project` computes the layer's keys and values for this call's inputs;
 * the cache returns what the queries attend over. A self-attention cache returns every position
 * so far, the new one included, and the new rows as `append`: the attention dispatch writes them
 * into the cache (no separate copy); a cross-attention cache projects
 * the image once (on the first call) and returns that from then on.
 */
export interface AttentionCache {
  keysValues(project: () => KeysValues): KeysValues;
  /**
   * A self-attention cache only: every position so far and one more, for a step that writes the
   * new key and value rows into the cache itself (decodeBranch) instead of projecting them here.
   */
  grow?(): KeysValues;
}

const attendOver = (s: AttentionSettings, project: () => KeysValues): KeysValues => (s.cache ? s.cache.keysValues(project) : project());

export function norm(ps: ParamStore, prefix: string, x: Tensor): Tensor {
  return layerNorm(x, ps.get(`${prefix}.weight`), ps.get(`${prefix}.bias`));
}

/** x with the layernorm `prefix` to apply before the product that reads it (which may fold it in). */
export function normed(ps: ParamStore, prefix: string, x: Tensor): PreNormed {
  return { x, norm: { weight: ps.get(`${prefix}.weight`), bias: ps.get(`${prefix}.bias`) } };
}

/** c_proj(GELU(c_fc(x))), the GELU fused into the matmuls (mlpGelu). */
export function mlp(ps: ParamStore, prefix: string, x: ProductInput, residual?: Tensor): Tensor {
  return mlpGelu(x, ps.get(`${prefix}.c_fc.weight`), ps.get(`${prefix}.c_fc.bias`), ps.get(`${prefix}.c_proj.weight`), ps.get(`${prefix}.c_proj.bias`), residual);
}

/** torch nn.MultiheadAttention(x, x, x): one fused projection to q|k|v, attention, out_proj. */
export function selfAttention(ps: ParamStore, prefix: string, x: ProductInput, s: AttentionSettings, residual?: Tensor): Tensor {
  const d = ps.get(`${prefix}.out_proj.weight`).shape[0]!;
  const out = [ps.get(`${prefix}.out_proj.weight`), ps.get(`${prefix}.out_proj.bias`)] as const;
  // A decoding step: the whole branch in one dispatch where the kernels take it.
  const branch = decodeStepBranch(x, residual, ps.get(`${prefix}.in_proj_weight`), ps.get(`${prefix}.in_proj_bias`), true);
  if (branch && s.cache?.grow && decodeBranchFits(branch, d, s, ...out)) {
    const { k, v } = s.cache.grow();
    return decodeBranch(branch, k, v, d, s, ...out);
  }
  const qkv = linear(x, ps.get(`${prefix}.in_proj_weight`), ps.get(`${prefix}.in_proj_bias`));
  const { k, v, append } = attendOver(s, () => ({ k: { t: qkv, col: d }, v: { t: qkv, col: 2 * d } }));
  return attentionOutProj({ t: qkv, col: 0 }, k, v, d, { ...s, append }, ...out, residual);
}

/**
 * torch nn.MultiheadAttention(q, kv, kv): q from xq [B, T, d], k and v from kv() [B, S, k]. With
 * k == d the weights are row blocks of in_proj_weight (k and v then one product, which may fold
 * kv()'s layernorm in); otherwise torch keeps q/k/v_proj_weight. kv is a function so that a cache
 * already holding the projection (s.cache) skips computing it.
 */
export function crossAttention(ps: ParamStore, prefix: string, xq: ProductInput, kv: () => ProductInput, s: AttentionSettings, residual?: Tensor): Tensor {
  const d = ps.get(`${prefix}.out_proj.weight`).shape[0]!;
  const b = ps.get(`${prefix}.in_proj_bias`);
  const fused = ps.has(`${prefix}.in_proj_weight`);
  const out = [ps.get(`${prefix}.out_proj.weight`), ps.get(`${prefix}.out_proj.bias`)] as const;
  const qWeight = fused ? narrowRows(ps.get(`${prefix}.in_proj_weight`), 0, d) : ps.get(`${prefix}.q_proj_weight`);
  const branch = decodeStepBranch(xq, residual, qWeight, narrowRows(b, 0, d), false);
  const project = () => attendOver(s, () => {
    if (fused) {
      const w = ps.get(`${prefix}.in_proj_weight`);
      const kvp = linear(kv(), narrowRows(w, d, 2 * d), narrowRows(b, d, 2 * d));
      return { k: { t: kvp, col: 0 }, v: { t: kvp, col: d } };
    }
    // Read by two products: normalised once.
    const x = materialise(kv());
    return { k: { t: linear(x, ps.get(`${prefix}.k_proj_weight`), narrowRows(b, d, d)), col: 0 }, v: { t: linear(x, ps.get(`${prefix}.v_proj_weight`), narrowRows(b, 2 * d, d)), col: 0 } };
  });
  if (branch && decodeBranchFits(branch, d, s, ...out)) {
    const { k, v } = project();
    return decodeBranch(branch, k, v, d, s, ...out);
  }
  const q = linear(xq, qWeight, narrowRows(b, 0, d));
  const { k, v } = project();
  return attentionOutProj({ t: q, col: 0 }, k, v, d, s, ...out, residual);
}

/** The branch decodeBranch would take: a layernormed input that is also the residual (a pre-norm block's attention). */
function decodeStepBranch(x: ProductInput, residual: Tensor | undefined, weight: Tensor, bias: Tensor, selfKV: boolean): BranchInput | null {
  return !(x instanceof Tensor) && residual === x.x ? { x, weight, bias, selfKV } : null;
}

/**
 * open_clip's ResidualAttentionBlock, pre-LN: x + attn(ln_1 x) then x + mlp(ln_2 x). With
 * `image` it is a cross-attention block: keys and values are ln_1_kv(image). The same block runs
 * the whole sequence (training, full recomputation) or one new position against s.cache.
 */
export function block(ps: ParamStore, prefix: string, x: Tensor, s: AttentionSettings, image?: Tensor): Tensor {
  // ln_1 and ln_2 go to the products that read them, which fold them into their prologue where
  // they can (a decoding step's rows). Both residual adds ride in the matmul that ends each branch
  // (it accumulates onto a copy of x).
  const h = normed(ps, `${prefix}.ln_1`, x);
  const x1 = image ? crossAttention(ps, `${prefix}.attn`, h, () => normed(ps, `${prefix}.ln_1_kv`, image), s, x) : selfAttention(ps, `${prefix}.attn`, h, s, x);
  return mlp(ps, `${prefix}.mlp`, normed(ps, `${prefix}.ln_2`, x1), x1);
}

/**
 * open_clip's AttentionalPooler: learned queries (ln_q) attend over ln_k(x); [B, S, k] → [B, n, d].
 * The queries are layernormed after their copy over the batch (the same rows, each normalised as
 * on its own), so ln_q rides in the q projection's prologue and the query's gradient is one
 * column sum, which the tape defers.
 */
export function attentionalPooler(ps: ParamStore, prefix: string, x: Tensor, heads: number, path?: AttentionPath): Tensor {
  const B = x.shape[0]!;
  const query = normed(ps, `${prefix}.ln_q`, expandBatch(ps.get(`${prefix}.query`), B));
  return crossAttention(ps, `${prefix}.attn`, query, () => normed(ps, `${prefix}.ln_k`, x), { heads, path });
}
