// Transparency under an imported open_clip model: open_clip's transform starts with Pillow's
// convert('RGB'), which drops the alpha channel and keeps the colour stored under it; coca's own
// models see transparency flattened on their background. test/fixtures/clip_preprocess_alpha.json
// holds PNG files written by Pillow (RGBA, grey + alpha, a palette with a transparent entry) and
// what convert('RGB') + Resize(bicubic) + CenterCrop made of each (scripts/reference/clip_alpha.py).
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLIP_MEAN, CLIP_STD } from '../../../src/data/augment.ts';
import { decodePicture } from '../../../src/data/image.ts';
import type { ImagePreprocess } from '../../../src/data/preprocess.ts';
import { describePreprocess } from '../../../src/data/preprocess.ts';
import { cocaConfigOf, exportOpenClip, importOpenClip } from '../../../src/interop/openclip.ts';
import { writeCheckpointFolder } from '../../../src/model/checkpoint-folder.ts';
import { readSafetensors } from '../../../src/model/safetensors.ts';
import { parseConfig, preprocessOf, withPreprocess } from '../../../src/model/config.ts';
import { tempDir } from './fixtures.ts';

interface Case {
  mode: string;
  width: number;
  height: number;
  size: number;
  png: string;
  output: string;
}
const FIX = path.join(import.meta.dirname, '..', '..', 'fixtures');
const fx = JSON.parse(fs.readFileSync(path.join(FIX, 'clip_preprocess_alpha.json'), 'utf8')) as { cases: Case[] };
const pre = (size: number, extra: Partial<ImagePreprocess> = {}): ImagePreprocess => ({ size, mean: CLIP_MEAN, std: CLIP_STD, interpolation: 'bicubic', resizeMode: 'shortest', background: [255, 255, 255], ...extra });

async function decoded(c: Case, p: ImagePreprocess): Promise<Buffer> {
  const file = path.join(tempDir(), `${c.mode}-${c.width}x${c.height}.png`);
  fs.writeFileSync(file, Buffer.from(c.png, 'base64'));
  const img = await decodePicture({ path: file }, p, false);
  expect([img.width, img.height]).toEqual([c.size, c.size]);
  return Buffer.from(img.data);
}

describe("transparency dropped as open_clip's convert('RGB') drops it", () => {
  it.each(fx.cases.map((c) => [`${c.mode} ${c.width}x${c.height} → ${c.size}`, c] as const))('%s: equal to Pillow, byte for byte', async (_n, c) => {
    expect((await decoded(c, pre(c.size, { alpha: 'drop' }))).equals(Buffer.from(c.output, 'base64'))).toBe(true);
  });

  it("coca's own models still flatten on their background: the same files give other pixels there", async () => {
    for (const c of fx.cases) {
      const flat = await decoded(c, pre(c.size));
      expect(flat.equals(Buffer.from(c.output, 'base64'))).toBe(false);
      // On black, flattening is premultiplying: never brighter than the stored colour.
      const onBlack = await decoded(c, pre(c.size, { background: [0, 0, 0] }));
      const dropped = await decoded(c, pre(c.size, { alpha: 'drop' }));
      expect(onBlack.reduce((s, v) => s + v, 0)).toBeLessThan(dropped.reduce((s, v) => s + v, 0));
    }
  });
});

describe('the config key image_alpha', () => {
  const micro = JSON.parse(fs.readFileSync(path.join(FIX, 'parity_micro.json'), 'utf8')) as Record<string, Record<string, unknown>>;
  const withVision = (extra: Record<string, unknown>) => ({ ...micro, vision_cfg: { ...micro['vision_cfg'], image_mean: [0.5, 0.5, 0.5], image_std: [1, 1, 1], ...extra } });
  const hub = JSON.parse(fs.readFileSync(path.join(FIX, 'openclip', 'open_clip_config.json'), 'utf8')) as { model_cfg: Record<string, unknown> };

  it('every open_clip import records "drop"; it round-trips; coca\'s own configs have none', () => {
    for (const resize_mode of ['shortest', 'longest', 'squash']) {
      const c = cocaConfigOf({ model: hub.model_cfg, preprocess: { resize_mode }, where: 'hub' }, []);
      expect(c.vision_cfg.image_alpha).toBe('drop');
      expect(preprocessOf(c)!.alpha).toBe('drop');
      expect(withPreprocess(c, preprocessOf(c)!)).toEqual(c);
    }
    const own = parseConfig(withVision({}));
    expect('alpha' in preprocessOf(own)!).toBe(false);
    expect('image_alpha' in withPreprocess(own, preprocessOf(own)!).vision_cfg).toBe(false);
    expect(describePreprocess(preprocessOf(parseConfig(withVision({ image_alpha: 'drop' })))!)).toMatch(/, transparency dropped,/);
    expect(describePreprocess(preprocessOf(own)!)).not.toMatch(/transparency/);
  });

  it('another value is refused in one line', () => {
    expect(() => parseConfig(withVision({ image_alpha: 'keep' }))).toThrow(/^config: vision_cfg\.image_alpha: .*"drop".*leave it out to flatten transparency on image_background/);
  });
});

describe('export', () => {
  it("an imported model exports with no note on transparency; coca's own model with one", () => {
    const tmp = tempDir();
    const hub = path.join(FIX, 'openclip');
    const imp = path.join(tmp, 'imp');
    importOpenClip(hub, imp);
    const transparencyNotes = (notes: string[]) => notes.filter((n) => /transparen/.test(n));
    expect(transparencyNotes(exportOpenClip(imp, path.join(tmp, 'imp-exp')).notes)).toEqual([]);
    const cfg = JSON.parse(fs.readFileSync(path.join(imp, 'config.json'), 'utf8')) as { vision_cfg: Record<string, unknown> };
    expect(cfg.vision_cfg['image_alpha']).toBe('drop');
    delete cfg.vision_cfg['image_alpha'];
    const own = path.join(tmp, 'own');
    writeCheckpointFolder(own, [{ name: 'model.safetensors', tensors: readSafetensors(path.join(imp, 'model.safetensors')).tensors as never }, { name: 'config.json', text: JSON.stringify(cfg) }]);
    expect(transparencyNotes(exportOpenClip(own, path.join(tmp, 'own-exp')).notes)).toEqual([expect.stringMatching(/flattened on 255 255 255; open_clip drops transparency \(convert\('RGB'\)\)/)]);
  });
});
