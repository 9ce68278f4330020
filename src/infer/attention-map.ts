// Where the model looked for each word (Show, Attend and Tell's picture). The decoder attends to
// image tokens, not patches; each image token is the attentional pooler's weighted mix of the
// ViT's tokens. So a word's map over patches is
//     m[p] = Σ_j a[j] · P_pool[j, 1 + p]
// with a[j] the word's cross-attention weight on image token j (averaged over heads and decoder
// layers) and P_pool[j, ·] the pooler's attention of query j over [class, patch 1..G²]
// (averaged over heads; the class-token column is dropped and the map renormalised). The ViT's
// own mixing between patches is not traced (attention rollout would; the pooler map is what the
// decoder reads directly).
import sharp, { type OverlayOptions } from 'sharp';
import { loadSquare } from '../data/image.ts';
import { fitOf } from '../data/preprocess.ts';
import type { CocaModel } from '../model/coca.ts';
import { block, crossAttention, norm } from '../nn/layers.ts';
import { linear } from '../tensor/ops/linear.ts';
import { addBroadcastRow, concatSeq } from '../tensor/ops/sequence.ts';
import { expandBatch, reshape } from '../tensor/ops/shape.ts';
import { noGrad } from '../tensor/tape.ts';
import { tidy } from '../tensor/tensor.ts';
import type { OpenCheckpoint } from './load.ts';
import { loadImageFiles } from './load.ts';
import type { Caption } from './search.ts';
import { escapeHtml } from '../util/escape.ts';

/**
 * The captioning pooler's attention over patches, per image token: [B, Nimg, G²], each row
 * summing to 1. Runs the ViT and the first pooler as encodeImage does, asking the pooler's
 * attention kernel for its weights.
 */
export async function poolerPatchWeights(model: CocaModel, images: Float32Array, B: number): Promise<Float32Array> {
  const v = model.config.vision_cfg;
  const ps = model.params;
  const W = v.width;
  const Q = v.attn_pooler_queries;
  const H = v.attn_pooler_heads;
  const P = (v.image_size / v.patch_size) ** 2;
  const gpu = model.gpu;
  const probs = gpu.alloc(B * H * Q * (P + 1), 'pooler.probs');
  const patches = model.preparePatches(images, B);
  try {
    noGrad(() =>
      tidy(() => {
        let x = linear(patches, reshape(ps.get('visual.conv1.weight'), [W, 3 * v.patch_size ** 2]));
        x = concatSeq([reshape(ps.get('visual.class_embedding'), [1, W]), x]);
        x = addBroadcastRow(x, ps.get('visual.positional_embedding'));
        x = norm(ps, 'visual.ln_pre', x);
        for (let i = 0; i < v.layers; i++) x = block(ps, `visual.transformer.resblocks.${i}`, x, { heads: v.heads });
        const query = norm(ps, 'visual.attn_pool.ln_q', ps.get('visual.attn_pool.query'));
        crossAttention(ps, 'visual.attn_pool.attn', expandBatch(query, B), () => norm(ps, 'visual.attn_pool.ln_k', x), { heads: H, probs });
      }),
    );
    const all = await gpu.read(probs, B * H * Q * (P + 1));
    // With attentional_pool true, query 0 is the contrastive embedding; tokens are queries 1..Q−1.
    const first = v.attentional_pool === true ? 1 : 0;
    const N = Q - first;
    const out = new Float32Array(B * N * P);
    for (let b = 0; b < B; b++) {
      for (let j = 0; j < N; j++) {
        const row = out.subarray((b * N + j) * P, (b * N + j + 1) * P);
        for (let h = 0; h < H; h++) {
          const src = ((b * H + h) * Q + j + first) * (P + 1) + 1;
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

// A perceptual colour ramp (dark blue → teal → yellow) for the heat maps.
const RAMP: [number, number, number][] = [[48, 18, 59], [40, 110, 200], [30, 190, 160], [160, 220, 60], [250, 230, 40]];
function ramp(t: number): [number, number, number] {
  const x = Math.min(Math.max(t, 0), 1) * (RAMP.length - 1);
  const i = Math.min(Math.floor(x), RAMP.length - 2);
  const f = x - i;
  return [0, 1, 2].map((c) => RAMP[i]![c]! * (1 - f) + RAMP[i + 1]![c]! * f) as [number, number, number];
}

/** picture (cell×cell RGB) with the G×G map, bilinearly upsampled and stretched to its min..max, blended over it. */
function overlay(pic: Uint8Array, map: Float32Array, G: number, cell: number): Buffer {
  const out = Buffer.alloc(cell * cell * 3);
  const lo = Math.min(...map);
  const span = Math.max(...map) - lo || 1;
  const at = (gy: number, gx: number) => map[Math.min(Math.max(gy, 0), G - 1) * G + Math.min(Math.max(gx, 0), G - 1)]!;
  for (let y = 0; y < cell; y++) {
    const fy = ((y + 0.5) * G) / cell - 0.5;
    const y0 = Math.floor(fy);
    for (let x = 0; x < cell; x++) {
      const fx = ((x + 0.5) * G) / cell - 0.5;
      const x0 = Math.floor(fx);
      const wy = fy - y0;
      const wx = fx - x0;
      const v = (at(y0, x0) * (1 - wx) + at(y0, x0 + 1) * wx) * (1 - wy) + (at(y0 + 1, x0) * (1 - wx) + at(y0 + 1, x0 + 1) * wx) * wy;
      const col = ramp((v - lo) / span);
      const o = (y * cell + x) * 3;
      for (let c = 0; c < 3; c++) out[o + c] = Math.round(0.45 * pic[o + c]! + 0.55 * col[c]!);
    }
  }
  return out;
}

// Byte-level BPE pieces can decode to control characters or half a UTF-8 sequence: XML takes neither.
// eslint-disable-next-line no-control-regex
const escapeXml = (s: string) => escapeHtml(s.replace(/[\u0000-\u001f\u007f\ufffd]/g, '·'));

function label(text: string, width: number, height: number, bold = false): Buffer {
  return Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><rect width="100%" height="100%" fill="#ffffff"/><text x="${width / 2}" y="${height - 7}" font-family="DejaVu Sans, sans-serif" font-size="13" ${bold ? 'font-weight="bold"' : ''} text-anchor="middle" fill="#111">${escapeXml(text)}</text></svg>`,
  );
}

/**
 * A PNG grid: one row per image, the picture first, then one overlay per generated word (the
 * word under it). Captions must carry `attention` (decoded with recordAttention).
 */
export async function drawAttention(ck: OpenCheckpoint, results: { image: string; caption: Caption }[], file: string, cell = 112): Promise<void> {
  const { model, tokenizer } = ck;
  const v = model.config.vision_cfg;
  const G = v.image_size / v.patch_size;
  const P = G * G;
  const images = await loadImageFiles(results.map((r) => r.image), ck.pre);
  const pool = await poolerPatchWeights(model, images, results.length);
  const nImg = pool.length / results.length / P;
  const labelH = 22;
  const cols = 1 + Math.max(...results.map((r) => r.caption.tokens.length - 1));
  const tiles: OverlayOptions[] = [];
  for (const [i, r] of results.entries()) {
    const pic = await loadSquare({ path: r.image }, cell, fitOf(ck.pre.resizeMode));
    const top = i * (cell + labelH + 6);
    const raw = { raw: { width: cell, height: cell, channels: 3 as const } };
    tiles.push({ input: Buffer.from(pic), ...raw, left: 0, top });
    tiles.push({ input: label(r.image.split('/').pop() ?? '', cell, labelH, true), left: 0, top: top + cell });
    const words = r.caption.tokens.slice(1);
    const poolI = pool.subarray(i * nImg * P, (i + 1) * nImg * P);
    for (const [k, id] of words.entries()) {
      const cross = r.caption.attention?.[k];
      if (!cross) continue;
      const left = (k + 1) * (cell + 4);
      tiles.push({ input: overlay(pic, wordMap(cross, poolI, nImg, P), G, cell), ...raw, left, top });
      tiles.push({ input: label(id === tokenizer.eosId ? '[EOT]' : tokenizer.decode([id]).trim(), cell, labelH), left, top: top + cell });
    }
  }
  await sharp({ create: { width: cols * (cell + 4), height: results.length * (cell + labelH + 6), channels: 3, background: '#ffffff' } })
    .composite(tiles)
    .png()
    .toFile(file);
}
