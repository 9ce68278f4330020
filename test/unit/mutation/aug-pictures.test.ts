// picture.ts's open_clip order for an imported `longest` model (vision_cfg.image_pad_after_resize)
// where the earlier tests did not reach it: only with `longest`, only for bicubic evaluation (a
// bilinear model or training pads first, in coca's order, with the fill colour), and the kept
// ratio's sides rounded as Python's round() rounds them (checked with Debian's python3: round(3.5)
// = 4, round(2.5) = 2, round(5.5) = 6, round(4.5) = 4); and preprocess.ts's one-line description
// with both of the imported settings. Flat pictures: a bicubic resize keeps a flat picture flat,
// so every expected row is the picture's colour or the fill.
import { describe, expect, it } from 'vitest';
import type { Triple } from '../../../src/data/augment.ts';
import type { RgbImage } from '../../../src/data/image.ts';
import { preparePicture, resizeKeepRatio, type Reduce } from '../../../src/data/picture.ts';
import { describePreprocess, type ImagePreprocess } from '../../../src/data/preprocess.ts';

const C: Triple = [10, 200, 30];
const FILL: Triple = [1, 2, 3];
const BG: Triple = [250, 240, 230];

function flat(w: number, h: number, c: Triple): RgbImage {
  const data = new Uint8Array(w * h * 3);
  for (let i = 0; i < w * h; i++) data.set(c, i * 3);
  return { data, width: w, height: h };
}
/** One [r, g, b] per row when the row is one colour, else 'mixed'. */
function rows(img: RgbImage): (number[] | 'mixed')[] {
  return Array.from({ length: img.height }, (_, y) => {
    const row = img.data.subarray(y * img.width * 3, (y + 1) * img.width * 3);
    const first = [...row.subarray(0, 3)];
    return row.every((v, i) => v === first[i % 3]) ? first : 'mixed';
  });
}
const never: Reduce = () => {
  throw new Error('reduce must not be called here');
};
const pre = (size: number, extra: Partial<ImagePreprocess> = {}): ImagePreprocess => ({ size, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25], interpolation: 'bicubic', resizeMode: 'longest', background: BG, padAfterResize: FILL, ...extra });

describe('resizeKeepRatio: the longer side to the size, the other rounded as Python rounds', () => {
  // [width, height, size] → [width, height] as python3 gives round(w / r), round(h / r), r = max(w, h) / size.
  const cases: [number, number, number, number, number][] = [
    [8, 7, 4, 4, 4], // 3.5 → 4
    [16, 11, 8, 8, 6], // 5.5 → 6
    [8, 3, 4, 4, 2], // 1.5 → 2
    [10, 5, 4, 4, 2], // 2.5 → 2
    [16, 9, 8, 8, 4], // 4.5 → 4
    [12, 10, 4, 4, 3], // 3.33 → 3
    [14, 9, 4, 4, 3], // 2.57 → 3
    [9, 2, 6, 6, 1],
    [2, 6, 4, 1, 4],
    [7, 5, 2, 2, 1],
  ];
  for (const [w, h, size, nw, nh] of cases) {
    it(`${w}×${h} at ${size} → ${nw}×${nh}`, () => {
      const out = resizeKeepRatio(flat(w, h, C), size);
      expect([out.width, out.height]).toEqual([nw, nh]);
      expect(rows(out).every((r) => r !== 'mixed' && r.join() === C.join())).toBe(true);
    });
  }

  it('through preparePicture: 8×7 at 4 fills the square (no fill row); 12×10 at 4 leaves one fill row below', async () => {
    expect(rows(await preparePicture(flat(8, 7, C), pre(4), false, never))).toEqual([C, C, C, C]);
    expect(rows(await preparePicture(flat(12, 10, C), pre(4), false, never))).toEqual([C, C, C, FILL]);
  });
});

describe("open_clip's order only where it applies", () => {
  it('bilinear evaluation pads with the fill colour first (coca’s order) and does not resize', async () => {
    const out = await preparePicture(flat(8, 4, C), pre(4, { interpolation: 'bilinear' }), false, never);
    expect([out.width, out.height]).toEqual([8, 8]);
    expect(rows(out)).toEqual([FILL, FILL, C, C, C, C, FILL, FILL]);
  });

  it('bicubic training pads with the fill colour first, then scales the shorter side to 1.5× through the decoder', async () => {
    const seen: [RgbImage, number, number][] = [];
    const reduce: Reduce = async (img, w, h) => (seen.push([img, w, h]), flat(w, h, [0, 0, 0]));
    const out = await preparePicture(flat(4, 2, C), pre(4), true, reduce);
    expect(seen.length).toBe(1);
    expect(rows(seen[0]![0])).toEqual([FILL, C, C, FILL]);
    expect([seen[0]![1], seen[0]![2], out.width, out.height]).toEqual([6, 6, 6, 6]);
  });

  it('a fill colour with another resize mode is not followed: shortest crops, squash resizes the whole picture', async () => {
    expect(rows(await preparePicture(flat(8, 4, C), pre(4, { resizeMode: 'shortest' }), false, never))).toEqual([C, C, C, C]);
    expect(rows(await preparePicture(flat(8, 4, C), pre(4, { resizeMode: 'squash' }), false, never))).toEqual([C, C, C, C]);
  });

  it('without a fill colour, bicubic longest pads with the background and then resizes (coca’s order)', async () => {
    const out = await preparePicture(flat(4, 2, C), pre(4, { padAfterResize: undefined }), false, never);
    expect(rows(out)).toEqual([BG, C, C, BG]);
  });
});

describe('describePreprocess with the imported settings', () => {
  it('names the fill colour after the resize mode and the dropped transparency after the background', () => {
    expect(describePreprocess(pre(224, { alpha: 'drop' }))).toBe('224 px, resize longest, padded after resizing with 1 2 3, bicubic, background 250 240 230, transparency dropped, mean 0.5 0.5 0.5, std 0.25 0.25 0.25');
    expect(describePreprocess(pre(16, { padAfterResize: undefined, resizeMode: 'shortest' }))).toBe('16 px, resize shortest, bicubic, background 250 240 230, mean 0.5 0.5 0.5, std 0.25 0.25 0.25');
  });
});
