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
import { fitOf, type ImagePreprocess } from '../data/preprocess.ts';
import type { Tokenizer } from '../data/tokenizer.ts';
import type { OpenCheckpoint } from './load.ts';
import { loadImageFiles } from './load.ts';
import type { Caption } from './search.ts';
import { escapeHtml } from '../util/escape.ts';
import { poolerPatchWeights, ramp, wordMap } from './word-maps.ts';

export { poolerPatchWeights, wordMap } from './word-maps.ts';

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
  const { model } = ck;
  const v = model.config.vision_cfg;
  const G = v.image_size / v.patch_size;
  const P = G * G;
  const images = await loadImageFiles(results.map((r) => r.image), ck.pre);
  const pool = await poolerPatchWeights(model, images, results.length);
  const nImg = pool.length / results.length / P;
  await drawWordMaps(results, file, {
    pre: ck.pre,
    tokenizer: ck.tokenizer,
    grid: G,
    mapOf: (i, k) => {
      const cross = results[i]!.caption.attention?.[k];
      return cross ? wordMap(cross, pool.subarray(i * nImg * P, (i + 1) * nImg * P), nImg, P) : null;
    },
  }, cell);
}

/**
 * The grid drawAttention draws, from any model's word maps: mapOf(i, k) is word k of picture i's
 * map over a grid × grid feature map, row by row (null: nothing to draw). Show-Attend-Tell's α is
 * such a map as it is.
 */
export async function drawWordMaps(
  results: { image: string; caption: Caption }[],
  file: string,
  o: { pre: ImagePreprocess; tokenizer: Pick<Tokenizer, 'eosId' | 'decode'>; grid: number; mapOf: (i: number, k: number) => Float32Array | null },
  cell = 112,
): Promise<void> {
  const { tokenizer, grid: G } = o;
  const labelH = 22;
  const cols = 1 + Math.max(...results.map((r) => r.caption.tokens.length - 1));
  const tiles: OverlayOptions[] = [];
  for (const [i, r] of results.entries()) {
    const pic = await loadSquare({ path: r.image }, cell, fitOf(o.pre.resizeMode));
    const top = i * (cell + labelH + 6);
    const raw = { raw: { width: cell, height: cell, channels: 3 as const } };
    tiles.push({ input: Buffer.from(pic), ...raw, left: 0, top });
    tiles.push({ input: label(r.image.split('/').pop() ?? '', cell, labelH, true), left: 0, top: top + cell });
    const words = r.caption.tokens.slice(1);
    for (const [k, id] of words.entries()) {
      const map = o.mapOf(i, k);
      if (!map) continue;
      const left = (k + 1) * (cell + 4);
      tiles.push({ input: overlay(pic, map, G, cell), ...raw, left, top });
      tiles.push({ input: label(id === tokenizer.eosId ? '[EOT]' : tokenizer.decode([id]).trim(), cell, labelH), left, top: top + cell });
    }
  }
  await sharp({ create: { width: cols * (cell + 4), height: results.length * (cell + labelH + 6), channels: 3, background: '#ffffff' } })
    .composite(tiles)
    .png()
    .toFile(file);
}
