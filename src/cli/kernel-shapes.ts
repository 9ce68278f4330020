// The shapes `coca info --kernels` shows the heuristics' choice for: the matmuls and attentions
// of one training step of each preset at batch 32 (`coca bench step`'s batch), and the sizes
// `coca bench` and scripts/gpu/check.sh time.
import type { AttentionShape, MatmulShape } from '../../kernels/choices.ts';
import { loadConfig, PRESETS } from '../model/config.ts';
import { derived } from '../model/shapes.ts';

export const STEP_BATCH = 32;

export function presetKernelShapes(preset: string, B = STEP_BATCH): { matmuls: MatmulShape[]; attentions: AttentionShape[] } {
  const c = loadConfig(preset);
  const v = c.vision_cfg;
  const t = c.text_cfg;
  const m = c.multimodal_cfg;
  const d = derived(c);
  const Lv = d.patches + 1; // the class token
  const Lt = t.context_length + 1; // the CLS token appended for the text embedding
  const mlp = (w: number, r: number) => Math.floor(w * r);
  const at = (what: string) => `${preset}: ${what}`;
  return {
    matmuls: [
      { M: B * d.patches, N: v.width, K: 3 * v.patch_size ** 2, where: at('patch embedding') },
      { M: B * Lv, N: 3 * v.width, K: v.width, where: at('vision q,k,v') },
      { M: B * Lv, N: mlp(v.width, v.mlp_ratio), K: v.width, where: at('vision MLP up') },
      { M: B * Lv, N: v.width, K: mlp(v.width, v.mlp_ratio), where: at('vision MLP down') },
      { M: B * Lt, N: 3 * t.width, K: t.width, where: at('text q,k,v') },
      { M: B * Lt, N: mlp(t.width, t.mlp_ratio), K: t.width, where: at('text MLP up') },
      { M: B * t.context_length, N: m.vocab_size, K: m.width, where: at('caption logits') },
      { M: B, N: B, K: c.embed_dim, where: at('contrastive logits') },
    ],
    attentions: [
      { BH: B * v.heads, Lq: Lv, Lk: Lv, D: v.width / v.heads, where: at('vision self-attention') },
      { BH: B * v.attn_pooler_heads, Lq: v.attn_pooler_queries, Lk: Lv, D: m.width / v.attn_pooler_heads, where: at('attentional pooler') },
      { BH: B * t.heads, Lq: Lt, Lk: Lt, D: t.width / t.heads, where: at('text self-attention') },
      { BH: B * m.heads, Lq: t.context_length, Lk: d.imageTokens, D: m.width / m.heads, where: at('cross-attention') },
    ],
  };
}

/** Every preset's step, then the benchmark sizes. */
export function kernelShapes(): { matmuls: MatmulShape[]; attentions: AttentionShape[] } {
  const per = PRESETS.map((p) => presetKernelShapes(p));
  return {
    matmuls: [
      ...per.flatMap((p) => p.matmuls),
      ...[256, 1024, 4096].map((n) => ({ M: n, N: n, K: n, where: 'bench: square' })),
      { M: 16, N: 3072, K: 768, where: 'bench: thin (decoding)' },
    ],
    attentions: [
      ...per.flatMap((p) => p.attentions),
      ...[1024, 4096].flatMap((L) => [64, 128].map((D) => ({ BH: 8, Lq: L, Lk: L, D, where: 'bench: long sequence' }))),
    ],
  };
}
