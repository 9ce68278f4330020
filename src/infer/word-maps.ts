// Where the model looked for each word (Show, Attend and Tell's picture). The decoder attends to
// image tokens, not patches; each image token is the attentional pooler's weighted mix of the
// ViT's tokens. So a word's map over patches is
//     m[p] = Σ_j a[j] · P_pool[j, 1 + p]
// with a[j] the word's cross-attention weight on image token j (averaged over heads and decoder
// layers) and P_pool[j, ·] the pooler's attention of query j over [class, patch 1..G²]
// (averaged over heads; the class-token column is dropped and the map renormalised; the CNN
// tower has no class token, its tokens are the final map's pixels, G² of them). The ViT's
// own mixing between patches is not traced (attention rollout would; the pooler map is what the
// decoder reads directly).
//
// The maps themselves, with no picture drawn: attention-map.ts draws them with sharp, the
// exported site (src/web/site.ts) on a canvas.
import type { CocaModel } from '../model/coca.ts';
import { crossAttention, norm } from '../nn/layers.ts';
import { expandBatch } from '../tensor/ops/shape.ts';
import { noGrad } from '../tensor/tape.ts';
import { tidy } from '../tensor/tensor.ts';

/**
 * The captioning pooler's attention over patches, per image token: [B, Nimg, G²], each row
 * summing to 1. Runs the image tower and the first pooler as encodeImage does, asking the pooler's
 * attention kernel for its weights.
 */
export async function poolerPatchWeights(model: CocaModel, images: Float32Array, B: number): Promise<Float32Array> {
  const v = model.config.vision_cfg;
  const ps = model.params;
  const Q = v.attn_pooler_queries;
  const H = v.attn_pooler_heads;
  const P = (v.image_size / v.patch_size) ** 2;
  // The ViT's tokens start with its class token; the CNN tower's are the map's pixels alone.
  const cls = v.tower === 'cnn' ? 0 : 1;
  const gpu = model.gpu;
  const probs = gpu.alloc(B * H * Q * (P + cls), 'pooler.probs');
  const patches = model.preparePatches(images, B);
  try {
    noGrad(() =>
      tidy(() => {
        const x = model.towerTokens(patches);
        const query = norm(ps, 'visual.attn_pool.ln_q', ps.get('visual.attn_pool.query'));
        crossAttention(ps, 'visual.attn_pool.attn', expandBatch(query, B), () => norm(ps, 'visual.attn_pool.ln_k', x), { heads: H, probs });
      }),
    );
    const all = await gpu.read(probs, B * H * Q * (P + cls));
    // With attentional_pool true, query 0 is the contrastive embedding; tokens are queries 1..Q−1.
    const first = v.attentional_pool === true ? 1 : 0;
    const N = Q - first;
    const out = new Float32Array(B * N * P);
    for (let b = 0; b < B; b++) {
      for (let j = 0; j < N; j++) {
        const row = out.subarray((b * N + j) * P, (b * N + j + 1) * P);
        for (let h = 0; h < H; h++) {
          const src = ((b * H + h) * Q + j + first) * (P + cls) + cls;
          for (let p = 0; p < P; p++) row[p]! += all[src + p]!;
        }
        const s = row.reduce((a, x) => a + x, 0) || 1;
        for (let p = 0; p < P; p++) row[p]! /= s;
      }
    }
    return out;
  } finally {
    patches.release();
    gpu.release(probs);
  }
}

/** One word's map over the patches: cross-attention [layers·H·Nimg] through the pooler weights [Nimg, P]. */
export function wordMap(cross: Float32Array, pool: Float32Array, nImg: number, P: number): Float32Array {
  const a = new Float64Array(nImg);
  const groups = cross.length / nImg;
  for (let g = 0; g < groups; g++) for (let j = 0; j < nImg; j++) a[j]! += cross[g * nImg + j]! / groups;
  const m = new Float32Array(P);
  for (let j = 0; j < nImg; j++) for (let p = 0; p < P; p++) m[p]! += a[j]! * pool[j * P + p]!;
  return m;
}

/** A perceptual colour ramp (dark blue → teal → yellow) for the heat maps, t in 0..1. */
const RAMP: [number, number, number][] = [[48, 18, 59], [40, 110, 200], [30, 190, 160], [160, 220, 60], [250, 230, 40]];
export function ramp(t: number): [number, number, number] {
  const x = Math.min(Math.max(t, 0), 1) * (RAMP.length - 1);
  const i = Math.min(Math.floor(x), RAMP.length - 2);
  const f = x - i;
  return [0, 1, 2].map((c) => RAMP[i]![c]! * (1 - f) + RAMP[i + 1]![c]! * f) as [number, number, number];
}
