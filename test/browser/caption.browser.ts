// A checkpoint captions the same pictures in a tab as in Node: the inference tests' checkpoint
// (test/infer/fixture.ts) served as files, fetched by the page (src/model/checkpoint-web.ts), its
// tokenizer.json read by the browser's tokenizer (src/data/tokenizer-core.ts: the same
// @huggingface/tokenizers), pictures (PNG, JPEG, WebP with transparency) decoded by the browser
// (src/data/image-web.ts), greedy and beam search. Same tokens; scores within 1e-4 (float32 sums
// in other orders on other adapters; the pictures agree to the level, image.browser.ts). Skipped
// without /usr/bin/chromium, except under CI.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWeb } from '../../scripts/build-web.ts';
import { fullCrop, toTensor } from '../../src/data/augment.ts';
import { decodePicture } from '../../src/data/image.ts';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { captionImages } from '../../src/infer/caption.ts';
import { loadCheckpoint, readCheckpointTokenizer } from '../../src/model/checkpoint.ts';
import { preprocessOf } from '../../src/model/config.ts';
import { testGpu } from '../helpers/gpu.ts';
import { makeCheckpoint, makePictures } from '../infer/fixture.ts';
import type { TabCaption } from './caption.page.ts';
import { CHROMIUM, launchChromium, serveDir, type Served } from './serve.ts';

const have = fs.existsSync(CHROMIUM);
if (!have && !process.env.CI) console.log(`browser tests skipped: ${CHROMIUM} is absent (apt-get install -y chromium)`);

const QUERY = 'A dog on a Surfboard!';

let dir: string;
let served: Served;
let browser: Browser;
let gpu: Gpu;
let pictures: string[];

describe.skipIf(!have && !process.env.CI)('captions in the browser against Node', () => {
  beforeAll(async () => {
    if (!have) throw new Error(`${CHROMIUM} is absent; CI must install Debian's chromium (apt-get install -y chromium)`);
    gpu = await testGpu();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-caption-'));
    await buildWeb({ entries: ['test/browser/caption.page.ts'], outdir: dir, minify: false });
    fs.writeFileSync(path.join(dir, 'index.html'), '<!doctype html><meta charset="utf-8"><title>coca captions</title><script type="module" src="caption.page.js"></script>\n');
    await makeCheckpoint(gpu, path.join(dir, 'ck'));
    const p = await makePictures(path.join(dir, 'pics'));
    pictures = [p.red, p.blue, p.wide];
    served = await serveDir(dir);
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await served?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('same tokens and scores, greedy and beam search, and the same query ids', async () => {
    const model = loadCheckpoint(gpu, path.join(dir, 'ck'));
    const tokenizer = readCheckpointTokenizer(path.join(dir, 'ck'), model.config)!;
    const pre = preprocessOf(model.config)!;
    const S = pre.size;
    const images = new Float32Array(pictures.length * 3 * S * S);
    for (const [i, file] of pictures.entries()) {
      const img = await decodePicture({ bytes: fs.readFileSync(file), maxPixels: 1e8, name: file }, pre, false);
      toTensor(img, fullCrop(img), S, pre.mean, pre.std, images, i * 3 * S * S);
    }
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(served.url);
    await page.waitForFunction('globalThis.cocaCaption !== undefined');
    try {
      for (const beams of [1, 3]) {
        const node = await captionImages(model, images, pictures.length, { beams, maxLen: model.config.text_cfg.context_length, ...tokenizer.searchIds() });
        const urls = pictures.map((f) => served.url + path.relative(dir, f));
        const tab = (await page.evaluate(`globalThis.cocaCaption('ck/', ${JSON.stringify(urls)}, ${beams}, ${JSON.stringify(QUERY)})`)) as { captions: TabCaption[]; queryIds: number[] };
        console.log(
          `beams ${beams}: Node ${node.map((c) => `${JSON.stringify(tokenizer.decode(c.tokens))} ${c.score.toFixed(5)}`).join(', ')}; ` +
            `tab ${tab.captions.map((c) => `${JSON.stringify(c.text)} ${c.score.toFixed(5)}`).join(', ')}`,
        );
        expect(tab.captions.map((c) => c.tokens)).toEqual(node.map((c) => c.tokens));
        expect(tab.captions.map((c) => c.text)).toEqual(node.map((c) => tokenizer.decode(c.tokens)));
        for (const [i, c] of tab.captions.entries()) {
          // The third picture is half transparent: its inputs differ by a level where the canvas
          // and libvips blend it differently (image.browser.ts), the opaque ones not at all.
          const rel = i === 2 ? 3e-3 : 1e-4;
          expect(Math.abs(c.score - node[i]!.score), `score of picture ${i}`).toBeLessThanOrEqual(rel * Math.max(1, Math.abs(node[i]!.score)));
        }
        expect(tab.queryIds).toEqual(tokenizer.encode(QUERY, model.config.text_cfg.context_length));
      }
      expect(errors).toEqual([]);
    } finally {
      await page.close();
      model.params.release();
    }
  });

  it('names a missing checkpoint in one line', async () => {
    const page = await browser.newPage();
    try {
      await page.goto(served.url);
      await page.waitForFunction('globalThis.cocaCaption !== undefined');
      const msg = await page.evaluate(`globalThis.cocaCaption('nowhere/', [], 1, '').then(() => 'loaded', (e) => e.message)`);
      expect(msg).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/nowhere\/(config\.json|model\.safetensors): HTTP 404; there is no coca checkpoint here/);
    } finally {
      await page.close();
    }
  });
});
