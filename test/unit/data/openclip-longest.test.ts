// open_clip's resize_mode "longest" (ResizeKeepRatio(size, longest=1), then CenterCropOrPad with
// fill_color) against coca's own "longest" (pad with the background, then resize): an imported
// model records open_clip's order (vision_cfg.image_pad_after_resize, its fill_color as RGB) and
// its pictures are prepared so; coca's own models keep their order. Expected pixels are worked by
// hand on pictures of one colour (a bicubic resize keeps a flat picture flat).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Triple } from '../../../src/data/augment.ts';
import type { RgbImage } from '../../../src/data/image.ts';
import { preparePicture, type Reduce } from '../../../src/data/picture.ts';
import type { ImagePreprocess } from '../../../src/data/preprocess.ts';
import { InteropError } from '../../../src/interop/errors.ts';
import { cocaConfigOf, exportOpenClip, importOpenClip } from '../../../src/interop/openclip.ts';
import { writeCheckpointFolder } from '../../../src/model/checkpoint-folder.ts';
import { parseConfig, preprocessOf, withPreprocess } from '../../../src/model/config.ts';
import { readSafetensors } from '../../../src/model/safetensors.ts';

const FX = path.join(import.meta.dirname, '..', '..', 'fixtures', 'openclip');
const HUB = JSON.parse(fs.readFileSync(path.join(FX, 'open_clip_config.json'), 'utf8')) as { model_cfg: Record<string, unknown>; preprocess_cfg: Record<string, unknown> };

const flat = (w: number, h: number, c: Triple): RgbImage => {
  const data = new Uint8Array(w * h * 3);
  for (let i = 0; i < w * h; i++) data.set(c, i * 3);
  return { data, width: w, height: h };
};
/** One [r, g, b] per row when the row is one colour, else 'mixed'. */
const rowColours = (img: RgbImage): (number[] | 'mixed')[] =>
  Array.from({ length: img.height }, (_, y) => {
    const row = img.data.subarray(y * img.width * 3, (y + 1) * img.width * 3);
    const first = [...row.subarray(0, 3)];
    return row.every((v, i) => v === first[i % 3]) ? first : 'mixed';
  });
const never: Reduce = () => {
  throw new Error('reduce must not be called here');
};
const C: Triple = [10, 200, 30];
const BLACK: Triple = [0, 0, 0];
const WHITE: Triple = [255, 255, 255];
const pre = (size: number, extra: Partial<ImagePreprocess> = {}): ImagePreprocess => ({ size, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25], interpolation: 'bicubic', resizeMode: 'longest', background: WHITE, ...extra });

describe("open_clip's order for an imported `longest` (eval)", () => {
  it('4×2 → 4×4: no resize, one row of fill above and below (not the background)', async () => {
    const out = await preparePicture(flat(4, 2, C), pre(4, { padAfterResize: BLACK }), false, never);
    expect([out.width, out.height]).toEqual([4, 4]);
    expect(rowColours(out)).toEqual([BLACK, C, C, BLACK]);
    // coca's own order on the same picture: the background.
    expect(rowColours(await preparePicture(flat(4, 2, C), pre(4), false, never))).toEqual([WHITE, C, C, WHITE]);
  });

  it('8×4 → 4×4: resized to 4×2 first, so the fill rows stay pure; padding first blends them', async () => {
    expect(rowColours(await preparePicture(flat(8, 4, C), pre(4, { padAfterResize: BLACK }), false, never))).toEqual([BLACK, C, C, BLACK]);
    // Even with the same colour as background, coca's order resamples the border with the picture.
    const padFirst = rowColours(await preparePicture(flat(8, 4, C), pre(4, { background: BLACK }), false, never));
    expect(padFirst[0]).not.toEqual(BLACK);
    expect(padFirst[1]).not.toEqual(C);
  });

  it("the short side rounds as Python's round (2.5 → 2), the extra pad row goes below", async () => {
    // 2×1 at 5: ratio 0.4, 5×2.5 → 5×2; pad (5 − 2) // 2 = 1 above, 2 below.
    const out = await preparePicture(flat(2, 1, C), pre(5, { padAfterResize: [1, 2, 3] }), false, never);
    expect(rowColours(out)).toEqual([[1, 2, 3], C, C, [1, 2, 3], [1, 2, 3]]);
  });

  it('a tall picture pads left and right', async () => {
    const out = await preparePicture(flat(2, 6, C), pre(3, { padAfterResize: BLACK }), false, never);
    // 2×6 at 3: 1×3, padded 1 left, 1 right.
    const cols = Array.from({ length: 3 }, (_, x) => [...out.data.subarray(x * 3, x * 3 + 3)]);
    expect(cols).toEqual([BLACK, C, BLACK]);
    expect(rowColours(out)).toEqual(['mixed', 'mixed', 'mixed']);
  });

  it('training pads with the fill colour too', async () => {
    const seen: RgbImage[] = [];
    const reduce: Reduce = async (img, w, h) => (seen.push(img), { data: new Uint8Array(w * h * 3), width: w, height: h });
    await preparePicture(flat(4, 2, C), pre(4, { padAfterResize: BLACK, interpolation: 'bilinear' }), true, reduce);
    expect(rowColours(seen[0]!)).toEqual([BLACK, C, C, BLACK]);
  });
});

describe('the config key', () => {
  const micro = JSON.parse(fs.readFileSync(path.join(FX, '..', 'parity_micro.json'), 'utf8')) as Record<string, Record<string, unknown>>;
  const withVision = (extra: Record<string, unknown>) => ({ ...micro, vision_cfg: { ...micro['vision_cfg'], image_mean: [0.5, 0.5, 0.5], image_std: [1, 1, 1], ...extra } });

  it('round-trips through preprocessOf and withPreprocess; coca\'s own configs get no such key', () => {
    const c = parseConfig(withVision({ image_resize_mode: 'longest', image_pad_after_resize: [0, 0, 0] }));
    expect(preprocessOf(c)!.padAfterResize).toEqual([0, 0, 0]);
    expect(withPreprocess(c, preprocessOf(c)!)).toEqual(c);
    const own = parseConfig(withVision({ image_resize_mode: 'longest' }));
    expect('padAfterResize' in preprocessOf(own)!).toBe(false);
    expect('image_pad_after_resize' in withPreprocess(own, preprocessOf(own)!).vision_cfg).toBe(false);
    expect(withPreprocess(c, preprocessOf(own)!).vision_cfg.image_pad_after_resize).toBeUndefined();
  });

  it('refused in one line with another resize mode', () => {
    expect(() => parseConfig(withVision({ image_resize_mode: 'shortest', image_pad_after_resize: [0, 0, 0] }))).toThrow(/^config: vision_cfg\.image_pad_after_resize: only with image_resize_mode "longest".*remove it$/);
  });
});

describe('import and export of fill_color', () => {
  const oc = (preprocess: Record<string, unknown>) => ({ model: HUB.model_cfg, preprocess, where: 'hub' });

  it.each([
    [undefined, [0, 0, 0]],
    [0, [0, 0, 0]],
    [255, [255, 255, 255]],
    [[1, 2, 3], [1, 2, 3]],
  ])('fill_color %j with longest → image_pad_after_resize %j', (fill, want) => {
    expect(cocaConfigOf(oc({ resize_mode: 'longest', fill_color: fill }), []).vision_cfg.image_pad_after_resize).toEqual(want);
  });

  it('other modes record none; a bad fill_color is one line', () => {
    expect(cocaConfigOf(oc({ resize_mode: 'shortest', fill_color: 9 }), []).vision_cfg.image_pad_after_resize).toBeUndefined();
    let err: unknown;
    try {
      cocaConfigOf(oc({ resize_mode: 'longest', fill_color: 'black' }), []);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InteropError);
    expect((err as Error).message).toMatch(/^hub: preprocess fill_color "black" is not an integer 0\.\.255/);
  });

  let tmp: string;
  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-longest-'));
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  // Each test imports its own copy, so that either runs alone (vitest -t, or a mutation run that
  // picks only the tests reaching a mutant).
  const importLongest = (name: string) => {
    const hub = path.join(tmp, `${name}-hub`);
    fs.mkdirSync(hub);
    fs.copyFileSync(path.join(FX, 'open_clip_model.safetensors'), path.join(hub, 'open_clip_model.safetensors'));
    fs.writeFileSync(path.join(hub, 'open_clip_config.json'), JSON.stringify({ ...HUB, preprocess_cfg: { ...HUB.preprocess_cfg, resize_mode: 'longest', fill_color: 17 } }));
    return importOpenClip(hub, path.join(tmp, `${name}-imp`));
  };

  it('import → export → import keeps longest and the fill colour', () => {
    const first = importLongest('roundtrip');
    expect(first.config.vision_cfg.image_pad_after_resize).toEqual([17, 17, 17]);
    const r = exportOpenClip(path.join(tmp, 'roundtrip-imp'), path.join(tmp, 'exp'));
    expect(r.notes.filter((n) => /pads/.test(n))).toEqual([]);
    const written = JSON.parse(fs.readFileSync(path.join(tmp, 'exp', 'open_clip_config.json'), 'utf8')) as { preprocess_cfg: Record<string, unknown> };
    expect([written.preprocess_cfg['resize_mode'], written.preprocess_cfg['fill_color']]).toEqual(['longest', 17]);
    expect(importOpenClip(path.join(tmp, 'exp'), path.join(tmp, 'again')).config).toEqual(first.config);
  });

  it("coca's own longest exports its background as fill_color with a note that open_clip pads after resizing", () => {
    importLongest('own');
    const imp = path.join(tmp, 'own-imp');
    const cfg = JSON.parse(fs.readFileSync(path.join(imp, 'config.json'), 'utf8')) as { vision_cfg: Record<string, unknown> };
    delete cfg.vision_cfg['image_pad_after_resize'];
    cfg.vision_cfg['image_background'] = [250, 251, 252];
    const own = path.join(tmp, 'own');
    writeCheckpointFolder(own, [{ name: 'model.safetensors', tensors: readSafetensors(path.join(imp, 'model.safetensors')).tensors as never }, { name: 'config.json', text: JSON.stringify(cfg) }]);
    const r = exportOpenClip(own, path.join(tmp, 'own-exp'));
    expect(r.notes.some((n) => /pads pictures with 250 251 252 and then resizes them .*open_clip resizes first and then pads/.test(n))).toBe(true);
    const written = JSON.parse(fs.readFileSync(path.join(tmp, 'own-exp', 'open_clip_config.json'), 'utf8')) as { preprocess_cfg: Record<string, unknown> };
    expect(written.preprocess_cfg['fill_color']).toEqual([250, 251, 252]);
  });
});
