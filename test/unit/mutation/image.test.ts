// Decoding with sharp (src/data/image.ts) against its header, on pictures whose every pixel follows
// from how they are drawn here: vector art rasterised at twice the asked size (a hard edge stays
// hard, where 72 dpi would blur it), `cover` keeping the centre, `contain` letterboxing on white,
// transparency flattened on white or on the preprocessing's background, raw grey pixels, the
// pixel limit of encoded bytes, and which input a failure names.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { decodePicture, loadShorterSide, loadSquare } from '../../../src/data/image.ts';
import type { ImagePreprocess } from '../../../src/data/preprocess.ts';
import { tempDir } from '../data/fixtures.ts';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

/** 10×10 units: black left half, white right half. */
const HALVES = '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="5" height="10" fill="#000"/><rect x="5" width="5" height="10" fill="#fff"/></svg>';
const red = (px: Uint8Array, side: number, y: number) => Array.from({ length: side }, (_, x) => px[(y * side + x) * 3]!);

async function png(w: number, h: number, pixel: (x: number, y: number) => number[], channels: 3 | 4 = 3): Promise<Buffer> {
  const raw = Buffer.alloc(w * h * channels);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) raw.set(pixel(x, y), (y * w + x) * channels);
  return sharp(raw, { raw: { width: w, height: h, channels } }).png().toBuffer();
}

const pre = (over: Partial<ImagePreprocess> = {}): ImagePreprocess => ({ size: 4, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25], interpolation: 'bilinear', resizeMode: 'squash', background: [10, 20, 30], ...over });

describe('image decoding, pixel by pixel', () => {
  it('rasterises vector art at twice the asked size: a 10-unit picture asked at 40 px keeps its edge hard', async () => {
    const dir = tempDir('coca-img-');
    dirs.push(dir);
    // The edge falls between pixels 19 and 20; at 72 dpi the picture would be drawn 10 px wide and blown up 4×.
    const want = [...new Array(20).fill(0), ...new Array(20).fill(255)];
    expect(red(await loadSquare({ svg: HALVES }, 40, 'fill'), 40, 20)).toEqual(want);
    // A file is vector art by its name, in either case, gzipped (.svgz) or not.
    fs.writeFileSync(path.join(dir, 'halves.SVG'), HALVES);
    fs.writeFileSync(path.join(dir, 'halves.svgz'), zlib.gzipSync(HALVES));
    for (const f of ['halves.SVG', 'halves.svgz']) expect(red(await loadSquare({ path: path.join(dir, f) }, 40, 'fill'), 40, 20), f).toEqual(want);
    // Shrinking art: 2 px from 10 units, left black and right white.
    expect(red(await loadSquare({ svg: HALVES }, 2, 'fill'), 2, 0)).toEqual([0, 255]);
  });

  it('keeps the centre for cover and letterboxes on white for contain', async () => {
    // Three 10-px bands, red | green | blue: the centre square is all green.
    const bands = await png(30, 10, (x) => (x < 10 ? [255, 0, 0] : x < 20 ? [0, 255, 0] : [0, 0, 255]));
    const cover = await loadSquare({ bytes: bands, maxPixels: 300, name: 'bands.png' }, 10, 'cover');
    expect(new Set(Array.from({ length: 100 }, (_, i) => cover.slice(3 * i, 3 * i + 3).join()))).toEqual(new Set(['0,255,0']));
    // A black 20×10 picture in a 20×20 square: white above row 5 and from row 15, black between.
    const black = await png(20, 10, () => [0, 0, 0]);
    const contain = await loadSquare({ bytes: black, maxPixels: 200 }, 20, 'contain');
    const column = Array.from({ length: 20 }, (_, y) => contain[(y * 20 + 10) * 3]!);
    expect(column).toEqual([...new Array(5).fill(255), ...new Array(10).fill(0), ...new Array(5).fill(255)]);
  });

  it('reads raw grey pixels as RGB', async () => {
    const px = await loadSquare({ gray: Uint8Array.from([0, 50, 100, 200]), width: 2, height: 2 }, 2, 'fill');
    expect(Array.from(px)).toEqual([0, 0, 0, 50, 50, 50, 100, 100, 100, 200, 200, 200]);
  });

  it('decodes encoded bytes up to their pixel limit, and names what it cannot decode', async () => {
    const tenByTen = await png(10, 10, () => [255, 0, 0]);
    expect(Array.from((await loadSquare({ bytes: tenByTen, maxPixels: 100, name: 'big.png' }, 1, 'fill')).slice(0, 3))).toEqual([255, 0, 0]);
    await expect(loadSquare({ bytes: tenByTen, maxPixels: 99, name: 'big.png' }, 1, 'fill')).rejects.toThrow('cannot decode image big.png: Input image exceeds pixel limit');
    await expect(loadShorterSide({ bytes: tenByTen, maxPixels: 99 }, 1)).rejects.toThrow('cannot decode image upload: Input image exceeds pixel limit');
    await expect(decodePicture({ bytes: tenByTen, maxPixels: 99, name: 'shard/0001.png' }, pre(), false)).rejects.toThrow('cannot decode image shard/0001.png: Input image exceeds pixel limit');
    await expect(loadSquare({ svg: '<svg' }, 4, 'fill')).rejects.toThrow(/^cannot decode image inline SVG: /);
    await expect(loadSquare({ gray: new Uint8Array(3), width: 4, height: 4 }, 4, 'fill')).rejects.toThrow(/^cannot decode image raw pixels: /);
    await expect(loadShorterSide({ path: '/nonexistent/x.png' }, 4)).rejects.toThrow(/^cannot decode image \/nonexistent\/x\.png: /);
  });

  it('flattens transparency on white for storage and crops, on the background the preprocessing names for a model', async () => {
    const clear = await png(8, 4, () => [0, 0, 0, 0], 4);
    const shorter = await loadShorterSide({ bytes: clear, maxPixels: 32 }, 2);
    expect([shorter.width, shorter.height]).toEqual([4, 2]);
    expect(new Set(shorter.data)).toEqual(new Set([255]));
    // Evaluation, squash: the picture as decoded, 8×4, every pixel the background.
    const ev = await decodePicture({ bytes: clear, maxPixels: 32 }, pre(), false);
    expect([ev.width, ev.height]).toEqual([8, 4]);
    expect(Array.from(ev.data.slice(0, 6))).toEqual([10, 20, 30, 10, 20, 30]);
    // Training: scaled so the shorter side is 1.5 × 4 = 6, aspect kept (12×6), still the background.
    const tr = await decodePicture({ bytes: clear, maxPixels: 32 }, pre(), true);
    expect([tr.width, tr.height, tr.data.length]).toEqual([12, 6, 12 * 6 * 3]);
    expect(new Set(Array.from({ length: 72 }, (_, i) => tr.data.slice(3 * i, 3 * i + 3).join()))).toEqual(new Set(['10,20,30']));
  });

  it('scales for training with the model resampler: left half black, right half white stays so at 12×6', async () => {
    const halves = await png(8, 4, (x) => (x < 4 ? [0, 0, 0] : [255, 255, 255]));
    const tr = await decodePicture({ bytes: halves, maxPixels: 32 }, pre(), true);
    expect([tr.width, tr.height]).toEqual([12, 6]);
    // Pixels 0–4 of a row are black and 7–11 white; 5 and 6 straddle the edge.
    const row = red(tr.data, 12, 3);
    expect(row.slice(0, 5)).toEqual([0, 0, 0, 0, 0]);
    expect(row.slice(7)).toEqual([255, 255, 255, 255, 255]);
  });

  it('never reads SVG from encoded bytes (shard members, uploads), plain or gzipped, whatever the name says', async () => {
    const line = (name: string) => `cannot decode image ${name}: SVG is not read from shards or uploads; convert it to PNG`;
    await expect(decodePicture({ bytes: Buffer.from(HALVES), maxPixels: 1e6, name: 'shard/0001.png' }, pre(), false)).rejects.toThrow(line('shard/0001.png'));
    await expect(loadSquare({ bytes: zlib.gzipSync(HALVES), maxPixels: 1e6, name: 'x.jpg' }, 4, 'fill')).rejects.toThrow(line('x.jpg'));
    await expect(loadShorterSide({ bytes: Buffer.from('  \n' + HALVES), maxPixels: 1e6 }, 4)).rejects.toThrow(line('upload'));
    // The same picture given as markup or as a file is art, and is read.
    expect(red(await loadSquare({ svg: HALVES }, 2, 'fill'), 2, 0)).toEqual([0, 255]);
  });
});
