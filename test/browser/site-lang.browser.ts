// `coca export web` in the seeds' languages (issue 21), in Debian's chromium on its WebGPU
// adapter: the site of a multilingual checkpoint shows a caption-language picker with the model's
// languages, and picking Russian recaptions the picture with the caption Node gives after
// [SOT] [lang:ru] (the site's own half-precision weights, beams 3, as the page decodes). Skipped
// without /usr/bin/chromium, except under CI.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fullCrop, toTensor } from '../../src/data/augment.ts';
import { decodePicture } from '../../src/data/image.ts';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { captionImages } from '../../src/infer/caption.ts';
import { loadCheckpoint, readCheckpointTokenizer } from '../../src/model/checkpoint.ts';
import { preprocessOf } from '../../src/model/config.ts';
import { exportWeb } from '../../src/web/export.node.ts';
import { testGpu } from '../helpers/gpu.ts';
import { makeCheckpoint, makePictures } from '../infer/fixture.ts';
import { CHROMIUM, launchChromium, serveDir, type Served } from './serve.ts';

const have = fs.existsSync(CHROMIUM);
if (!have && !process.env.CI) console.log(`browser tests skipped: ${CHROMIUM} is absent (apt-get install -y chromium)`);

let dir: string;
let served: Served;
let browser: Browser;
let gpu: Gpu;
let pics: Awaited<ReturnType<typeof makePictures>>;

/** Node's caption of `file` in `lang` with the site's model, as the page computes it. */
async function nodeCaption(file: string, lang: string): Promise<string> {
  const site = path.join(dir, 'site', 'model');
  const model = loadCheckpoint(gpu, site);
  try {
    const tokenizer = readCheckpointTokenizer(site, model.config)!;
    const pre = preprocessOf(model.config)!;
    const img = await decodePicture({ bytes: fs.readFileSync(file), maxPixels: 1e8, name: file }, pre, false);
    const images = new Float32Array(3 * pre.size * pre.size);
    toTensor(img, fullCrop(img), pre.size, pre.mean, pre.std, images);
    const [c] = await captionImages(model, images, 1, { beams: 3, maxLen: model.config.text_cfg.context_length, ...tokenizer.searchIds(lang) });
    return tokenizer.decode(c!.tokens);
  } finally {
    model.params.release();
  }
}

describe.skipIf(!have && !process.env.CI)("coca export web's caption language", () => {
  beforeAll(async () => {
    if (!have) throw new Error(`${CHROMIUM} is absent; CI must install Debian's chromium (apt-get install -y chromium)`);
    gpu = await testGpu();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-site-lang-'));
    await makeCheckpoint(gpu, path.join(dir, 'ck'), 5, 3, ['en', 'ru', 'zh', 'ms']);
    pics = await makePictures(path.join(dir, 'pics'));
    await exportWeb(path.join(dir, 'ck'), path.join(dir, 'site'));
    served = await serveDir(path.join(dir, 'site'));
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await served?.close();
    gpu?.pool.trim();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("lists the model's languages and recaptions in the picked one as Node does", async () => {
    const page = await browser.newPage({ viewport: { width: 900, height: 700 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    try {
      await page.goto(served.url);
      await page.waitForFunction(`['ready', 'no-webgpu', 'error'].includes(document.getElementById('status').dataset.state)`, undefined, { timeout: 120_000 });
      expect(await page.getAttribute('#status', 'data-state'), (await page.textContent('#status')) ?? '').toBe('ready');
      expect(await page.isVisible('#lang-pick')).toBe(true);
      expect(await page.locator('#lang option').evaluateAll((os) => os.map((o) => (o as unknown as { value: string }).value))).toEqual(['en', 'ru', 'zh', 'ms']);

      const [en, ru] = [await nodeCaption(pics.red, 'en'), await nodeCaption(pics.red, 'ru')];
      expect(ru).not.toBe(en);
      const captioned = (want: string) => page.waitForFunction(`document.getElementById('caption').dataset.state === 'done' && document.getElementById('caption').textContent === ${JSON.stringify(want)}`, undefined, { timeout: 120_000 });
      await page.setInputFiles('#file', pics.red);
      await captioned(en);
      await page.selectOption('#lang', 'ru');
      await captioned(ru);
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  });
});
