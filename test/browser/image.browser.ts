// The browser's picture path (createImageBitmap + OffscreenCanvas, src/data/image-web.ts) against
// the sharp path in Node (image.ts's decodePicture), both ending in the same resampler and
// normalisation (augment.ts's toTensor), on pictures made here with sharp: an opaque PNG that is
// not square (centre crop), one with transparency (flattened on white), a JPEG, a picture over 4×
// the model's side (reduced first: libvips there, the canvas here) and the bicubic preprocessing.
// Differences are measured in 8-bit levels of the input; the bounds are stated per case.
// Skipped without /usr/bin/chromium, except under CI.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWeb } from '../../scripts/build-web.ts';
import { fullCrop, toTensor } from '../../src/data/augment.ts';
import { decodePicture } from '../../src/data/image.ts';
import { defaultPreprocess, type ImagePreprocess } from '../../src/data/preprocess.ts';
import { Rng } from '../../src/util/prng.ts';
import { CHROMIUM, launchChromium, serveDir, type Served } from './serve.ts';

const have = fs.existsSync(CHROMIUM);
if (!have && !process.env.CI) console.log(`browser tests skipped: ${CHROMIUM} is absent (apt-get install -y chromium)`);

const SIZE = 64;

/** width×height×channels of smooth gradients plus noise, deterministic. */
function pixels(width: number, height: number, channels: 3 | 4, seed: number): Buffer {
  const rng = new Rng(seed);
  const out = Buffer.alloc(width * height * channels);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * channels;
      out[i] = Math.round((255 * x) / width);
      out[i + 1] = Math.round((255 * y) / height);
      out[i + 2] = Math.min(255, Math.max(0, Math.round(128 + 60 * Math.sin(x / 5) + 40 * rng.normal())));
      if (channels === 4) out[i + 3] = Math.round((255 * (x + y)) / (width + height));
    }
  return out;
}

interface Case {
  name: string;
  file: string;
  pre: ImagePreprocess;
  /** Largest difference allowed, in 8-bit levels, and mean difference. */
  maxLevels: number;
  meanLevels: number;
}

const BILINEAR = defaultPreprocess(SIZE);
const CASES: Case[] = [
  // The browser's PNG decoder and ours agree bit for bit, and the rest is the same code.
  { name: 'opaque PNG 97×61, centre crop', file: 'opaque.png', pre: BILINEAR, maxLevels: 1e-3, meanLevels: 1e-4 },
  { name: 'same, bicubic preprocessing', file: 'opaque.png', pre: { ...BILINEAR, interpolation: 'bicubic' }, maxLevels: 1e-3, meanLevels: 1e-4 },
  // Alpha blended on the canvas in 8 bits vs libvips in float: one level either way (measured:
  // max 1, mean 0.47).
  { name: 'PNG with transparency 50×37 on white', file: 'alpha.png', pre: BILINEAR, maxLevels: 1.01, meanLevels: 0.6 },
  // Two JPEG decoders (libjpeg-turbo in both; chromium 156 and sharp 0.35 agreed exactly here), so
  // two levels allow for another IDCT or chroma upsampling.
  { name: 'JPEG 120×80 quality 90', file: 'photo.jpg', pre: BILINEAR, maxLevels: 2, meanLevels: 0.5 },
  // Reduced to 2× the side first by different filters (libvips' and Skia's), then the same
  // resampler: they differ most on the noise in the blue channel (measured: max 17, mean 1.95).
  { name: 'PNG 701×523, reduced first', file: 'big.png', pre: BILINEAR, maxLevels: 25, meanLevels: 2.5 },
];

let dir: string;
let served: Served;
let browser: Browser;
let page: Page;

async function nodeInput(file: string, pre: ImagePreprocess): Promise<Float32Array> {
  const img = await decodePicture({ bytes: fs.readFileSync(path.join(dir, file)), maxPixels: 1e8, name: file }, pre, false);
  const out = new Float32Array(3 * pre.size * pre.size);
  toTensor(img, fullCrop(img), pre.size, pre.mean, pre.std, out);
  return out;
}

describe.skipIf(!have && !process.env.CI)("the browser's picture path against sharp's", () => {
  beforeAll(async () => {
    if (!have) throw new Error(`${CHROMIUM} is absent; CI must install Debian's chromium (apt-get install -y chromium)`);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-image-'));
    await buildWeb({ entries: ['test/browser/image.page.ts'], outdir: dir, minify: false });
    fs.writeFileSync(path.join(dir, 'index.html'), '<!doctype html><meta charset="utf-8"><title>coca pictures</title><script type="module" src="image.page.js"></script>\n');
    const raw = (w: number, h: number, c: 3 | 4, seed: number) => sharp(pixels(w, h, c, seed), { raw: { width: w, height: h, channels: c } });
    await raw(97, 61, 3, 1).png().toFile(path.join(dir, 'opaque.png'));
    await raw(50, 37, 4, 2).png().toFile(path.join(dir, 'alpha.png'));
    await raw(120, 80, 3, 3).jpeg({ quality: 90 }).toFile(path.join(dir, 'photo.jpg'));
    await raw(701, 523, 3, 4).png().toFile(path.join(dir, 'big.png'));
    served = await serveDir(dir);
    browser = await launchChromium();
    page = await browser.newPage();
    await page.goto(served.url);
    await page.waitForFunction('globalThis.cocaPrepare !== undefined');
  });
  afterAll(async () => {
    await browser?.close();
    await served?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  for (const c of CASES) {
    it(`${c.name}: within ${c.maxLevels} levels (mean ${c.meanLevels})`, async () => {
      const want = await nodeInput(c.file, c.pre);
      const got = (await page.evaluate(`globalThis.cocaPrepare(${JSON.stringify(served.url + c.file)}, ${JSON.stringify(c.pre)})`)) as number[];
      expect(got).toHaveLength(want.length);
      const plane = SIZE * SIZE;
      let max = 0;
      let sum = 0;
      for (let i = 0; i < want.length; i++) {
        // Back to 8-bit levels: input = (v/255 − mean)/std.
        const levels = Math.abs(got[i]! - want[i]!) * 255 * c.pre.std[Math.floor(i / plane)]!;
        if (!(levels <= max)) max = Number.isNaN(levels) ? Infinity : levels;
        sum += levels;
      }
      const mean = sum / want.length;
      console.log(`${c.name}: max ${max.toFixed(3)} levels, mean ${mean.toFixed(3)}`);
      expect(max).toBeLessThanOrEqual(c.maxLevels);
      expect(mean).toBeLessThanOrEqual(c.meanLevels);
    });
  }

  it('names a file that is not a picture in one line', async () => {
    fs.writeFileSync(path.join(dir, 'not-a-picture.png'), 'hello');
    const msg = await page.evaluate(`globalThis.cocaPrepare(${JSON.stringify(served.url + 'not-a-picture.png')}, ${JSON.stringify(BILINEAR)}).then(() => 'decoded', (e) => e.message)`);
    expect(msg).toMatch(/^cannot decode the picture: .*; the file is not an image this browser reads, or it is corrupt$/);
  });
});
