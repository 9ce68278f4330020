// What a decoded picture goes through before the model's resampler (src/data/picture.ts), against
// its header, on pictures whose every pixel names its place (x, y, channel), so the expected
// crops and pads are written out by hand; the decoder's reduction is a stand-in that records
// the size asked for.
import { describe, expect, it } from 'vitest';
import type { RgbImage } from '../../../src/data/image.ts';
import { cropSquare, padSquare, preparePicture, TRAIN_DECODE_SCALE, type Reduce } from '../../../src/data/picture.ts';
import type { ImagePreprocess } from '../../../src/data/preprocess.ts';
import { noise, pillowCases } from './pillow-fixture.ts';

/** Pixel (x, y) channel c is 10y + x + 100c (all below 256 for the sizes here). */
function named(w: number, h: number): RgbImage {
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) data[(y * w + x) * 3 + c] = 10 * y + x + 100 * c;
  return { data, width: w, height: h };
}
/** The pixels of a picture as [r, g, b] rows, for readable comparisons. */
function rows(img: RgbImage): number[][][] {
  return Array.from({ length: img.height }, (_, y) => Array.from({ length: img.width }, (_, x) => [...img.data.subarray((y * img.width + x) * 3, (y * img.width + x) * 3 + 3)]));
}
/** Rows of named(): the pixel at source (x, y), or the background. */
const px = (x: number, y: number) => [10 * y + x, 10 * y + x + 100, 10 * y + x + 200];
const BG = [7, 8, 9] as const;

const pre = (size: number, resizeMode: ImagePreprocess['resizeMode'], interpolation: ImagePreprocess['interpolation'] = 'bilinear'): ImagePreprocess => ({ size, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25], interpolation, resizeMode, background: BG });

/** A reduction that records its calls and hands back a marker picture of the size asked. */
function recorder(): { reduce: Reduce; calls: [RgbImage, number, number][] } {
  const calls: [RgbImage, number, number][] = [];
  return { calls, reduce: async (img, w, h) => (calls.push([img, w, h]), { data: new Uint8Array(w * h * 3), width: w, height: h }) };
}
const never: Reduce = () => {
  throw new Error('reduce must not be called here');
};

describe('cropSquare and padSquare', () => {
  it('crops the centre square, the odd pixel left of or above the centre going to the far side', () => {
    expect(rows(cropSquare(named(5, 3)))).toEqual([0, 1, 2].map((y) => [1, 2, 3].map((x) => px(x, y))));
    expect(rows(cropSquare(named(3, 6)))).toEqual([1, 2, 3].map((y) => [0, 1, 2].map((x) => px(x, y))));
    expect(rows(cropSquare(named(2, 5)))).toEqual([1, 2].map((y) => [0, 1].map((x) => px(x, y))));
  });

  it('pads to the longer side with the background, the picture centred (the odd column or row of padding after it)', () => {
    const bg = [...BG];
    expect(rows(padSquare(named(2, 5), BG))).toEqual([0, 1, 2, 3, 4].map((y) => [bg, px(0, y), px(1, y), bg, bg]));
    expect(rows(padSquare(named(5, 2), BG))).toEqual([0, 1, 2, 3, 4].map((y) => (y === 1 || y === 2 ? [0, 1, 2, 3, 4].map((x) => px(x, y - 1)) : [bg, bg, bg, bg, bg])));
    expect(rows(padSquare(named(4, 2), BG))).toEqual([0, 1, 2, 3].map((y) => (y === 1 || y === 2 ? [0, 1, 2, 3].map((x) => px(x, y - 1)) : [bg, bg, bg, bg])));
  });

  it('a square picture is returned as it is', () => {
    const sq = named(3, 3);
    expect(cropSquare(sq)).toBe(sq);
    expect(padSquare(sq, BG)).toBe(sq);
  });
});

describe('preparePicture for evaluation', () => {
  it('bilinear: shortest crops the centre square, longest pads, squash leaves the picture as it is', async () => {
    const img = named(5, 3);
    expect(rows(await preparePicture(img, pre(2, 'shortest'), false, never))).toEqual(rows(cropSquare(img)));
    expect(rows(await preparePicture(img, pre(2, 'shortest'), false, never))).toEqual([0, 1, 2].map((y) => [1, 2, 3].map((x) => px(x, y))));
    const bg = [...BG];
    expect(rows(await preparePicture(img, pre(2, 'longest'), false, never))).toEqual([0, 1, 2, 3, 4].map((y) => (y >= 1 && y <= 3 ? [0, 1, 2, 3, 4].map((x) => px(x, y - 1)) : [bg, bg, bg, bg, bg])));
    expect(await preparePicture(img, pre(2, 'squash'), false, never)).toBe(img);
  });

  it('a picture more than 4× the side is first reduced to twice the side on its shorter side; exactly 4× is not', async () => {
    const r = recorder();
    const wide = named(9, 3);
    const out = await preparePicture(wide, pre(2, 'squash'), false, r.reduce);
    // k = 2·2 / 3: 9 → 12, 3 → 4.
    expect(r.calls.map(([i, w, h]) => [i, w, h])).toEqual([[wide, 12, 4]]);
    expect([out.width, out.height]).toEqual([12, 4]);
    const tall = named(5, 20);
    await preparePicture(tall, pre(4, 'squash'), false, r.reduce);
    // 20 > 16: k = 8 / 5: 5 → 8, 20 → 32.
    expect(r.calls[1]!.slice(1)).toEqual([8, 32]);
    const edge = named(8, 3);
    expect(await preparePicture(edge, pre(2, 'squash'), false, never)).toBe(edge);
  });

  it('bicubic (open_clip): shortest crops at torchvision\'s offset (round half to even), longest pads then resizes, squash resizes', async () => {
    // 4×7 at side 4 needs no resize; the crop starts at round(1.5) = 2, where the bilinear path's floor says 1.
    const tall = named(4, 7);
    expect(rows(await preparePicture(tall, pre(4, 'shortest', 'bicubic'), false, never))).toEqual([2, 3, 4, 5].map((y) => [0, 1, 2, 3].map((x) => px(x, y))));
    expect(rows(await preparePicture(tall, pre(4, 'shortest'), false, never)).slice(0, 1)).toEqual([[0, 1, 2, 3].map((x) => px(x, 1))]);
    // 4×2 padded is 4×4, already the side: the padded picture itself.
    const bg = [...BG];
    expect(rows(await preparePicture(named(4, 2), pre(4, 'longest', 'bicubic'), false, never))).toEqual([0, 1, 2, 3].map((y) => (y === 1 || y === 2 ? [0, 1, 2, 3].map((x) => px(x, y - 1)) : [bg, bg, bg, bg])));
    // Padded to 5×5, then resized to 3×3; squash resizes either side that differs.
    for (const [img, mode] of [[named(5, 2), 'longest'], [named(3, 5), 'squash'], [named(5, 3), 'squash']] as const) {
      const out = await preparePicture(img, pre(3, mode, 'bicubic'), false, never);
      expect([out.width, out.height]).toEqual([3, 3]);
    }
    const sq = named(3, 3);
    expect(rows(await preparePicture(sq, pre(3, 'squash', 'bicubic'), false, never))).toEqual(rows(sq));
    // squash is Pillow's resize of the whole picture to the side, unpadded.
    const c = pillowCases.find((k) => k.width === 5 && k.height === 3 && k.outWidth === 4)!;
    const squashed = await preparePicture({ data: noise(5, 3, c.seed), width: 5, height: 3 }, pre(4, 'squash', 'bicubic'), false, never);
    expect(Buffer.from(squashed.data).equals(Buffer.from(c.output, 'base64'))).toBe(true);
  });
});

describe('preparePicture for training', () => {
  it('scales the shorter side to 1.5× the model side, uncropped (padded first for longest), through the decoder', async () => {
    expect(TRAIN_DECODE_SCALE).toBe(1.5);
    const r = recorder();
    const img = named(5, 3);
    // side 4: shorter 6, k = 6 / 3 = 2.
    await preparePicture(img, pre(4, 'shortest'), true, r.reduce);
    await preparePicture(img, pre(4, 'squash', 'bicubic'), true, r.reduce);
    expect(r.calls.map(([i, w, h]) => [i, w, h])).toEqual([
      [img, 10, 6],
      [img, 10, 6],
    ]);
    // longest: padded to 5×5 first, k = 6 / 5.
    await preparePicture(img, pre(4, 'longest'), true, r.reduce);
    expect(rows(r.calls[2]![0])[0]).toEqual([[...BG], [...BG], [...BG], [...BG], [...BG]]);
    expect(r.calls[2]!.slice(1)).toEqual([6, 6]);
    // side 3: shorter round(4.5) = 5; 7×2 → k = 2.5: 17.5 rounds to 18.
    await preparePicture(named(7, 2), pre(3, 'squash'), true, r.reduce);
    expect(r.calls[3]!.slice(1)).toEqual([18, 5]);
  });

  it('a picture whose shorter side is already 1.5× the model side is left as it is', async () => {
    const img = named(9, 6);
    expect(await preparePicture(img, pre(4, 'shortest'), true, never)).toBe(img);
  });
});
