// `coca export web` end to end: the command writes the site of the inference tests' checkpoint,
// a static server serves it from 127.0.0.1, Debian's chromium opens it on its WebGPU adapter;
// a picked picture (PNG) and a dropped one (JPEG) get the caption `coca caption`'s path gives in
// Node (beam search, 3 beams) and, per word, the map of where the model looked that Node's
// `coca caption --attention` draws (within 1e-5), shown over the picture when the word is pointed
// at; a file that is not a picture gets one sentence; a text query ranks the pictures of the
// index exported with it (`coca index build`, `--index`) as `coca retrieve --text` does; labels
// classify the picture as `coca classify` does. Screenshots go to
// test-artifacts/web/. Skipped without /usr/bin/chromium, except under CI.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fullCrop, toTensor } from '../../src/data/augment.ts';
import { decodePicture } from '../../src/data/image.ts';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { captionImages } from '../../src/infer/caption.ts';
import { embedImages, embedTexts, topK } from '../../src/infer/embed.ts';
import { classEmbeddings, classify, DEFAULT_TEMPLATES, logitScale } from '../../src/infer/zeroshot.ts';
import { loadIndex } from '../../src/infer/retrieval.ts';
import { poolerPatchWeights, wordMap } from '../../src/infer/word-maps.ts';
import { openCheckpoint } from '../../src/infer/load.ts';
import { loadCheckpoint, readCheckpointTokenizer } from '../../src/model/checkpoint.ts';
import { buildServer, DEFAULTS } from '../../src/serve/server.ts';
import { preprocessOf } from '../../src/model/config.ts';
import { compareClose, describeReport } from '../../src/util/allclose.ts';
import { testGpu } from '../helpers/gpu.ts';
import { makeCheckpoint, makePictures } from '../infer/fixture.ts';
import { CHROMIUM, launchChromium, serveDir, type Served } from './serve.ts';

const have = fs.existsSync(CHROMIUM);
if (!have && !process.env.CI) console.log(`browser tests skipped: ${CHROMIUM} is absent (apt-get install -y chromium)`);
const ROOT = path.join(import.meta.dirname, '..', '..');
const ART = path.join(ROOT, 'test-artifacts', 'web');

let dir: string;
let served: Served;
let browser: Browser;
let gpu: Gpu;
let pics: Awaited<ReturnType<typeof makePictures>>;
let exported: string;

/**
 * The model the page loads: the site's model/ (half-precision weights, widened to float32 on
 * load by the loader both hosts share), so Node's references use the very weights the page
 * does; test/infer/export-half.test.ts shows they caption as the checkpoint's float32 ones.
 */
const siteModel = () => path.join(dir, 'site', 'model');

/** Node's caption of `file` with the site's model, as the page computes it (beams 3), and its word maps. */
async function nodeCaption(file: string): Promise<{ text: string; maps: Float32Array[] }> {
  const model = loadCheckpoint(gpu, siteModel());
  try {
    const tokenizer = readCheckpointTokenizer(siteModel(), model.config)!;
    const pre = preprocessOf(model.config)!;
    const img = await decodePicture({ bytes: fs.readFileSync(file), maxPixels: 1e8, name: file }, pre, false);
    const images = new Float32Array(3 * pre.size * pre.size);
    toTensor(img, fullCrop(img), pre.size, pre.mean, pre.std, images);
    const pool = await poolerPatchWeights(model, images, 1);
    const [c] = await captionImages(model, images, 1, { beams: 3, maxLen: model.config.text_cfg.context_length, recordAttention: true, ...tokenizer.searchIds() });
    const P = (pre.size / model.config.vision_cfg.patch_size) ** 2;
    return { text: tokenizer.decode(c!.tokens), maps: c!.tokens.slice(1).map((_, k) => wordMap(c!.attention![k]!, pool, pool.length / P, P)) };
  } finally {
    model.params.release();
  }
}

const shot = (page: Page, name: string) => page.screenshot({ path: path.join(ART, `${name}.png`), fullPage: true });

describe.skipIf(!have && !process.env.CI)('coca export web', () => {
  beforeAll(async () => {
    if (!have) throw new Error(`${CHROMIUM} is absent; CI must install Debian's chromium (apt-get install -y chromium)`);
    gpu = await testGpu();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-site-'));
    await makeCheckpoint(gpu, path.join(dir, 'ck'));
    pics = await makePictures(path.join(dir, 'pics'));
    const site = path.join(dir, 'site');
    const coca = (...args: string[]) => spawnSync(process.execPath, [path.join(ROOT, 'bin', 'coca.js'), ...args], { encoding: 'utf8', timeout: 180_000 });
    const ix = coca('index', 'build', path.join(dir, 'pics'), '--checkpoint', path.join(dir, 'ck'), '--out', path.join(dir, 'idx'));
    expect(ix.status, ix.stderr).toBe(0);
    const r = coca('export', 'web', path.join(dir, 'ck'), '--index', path.join(dir, 'idx'), '--out', site);
    expect(r.status, r.stderr).toBe(0);
    exported = r.stdout.trim();
    console.log(`coca export web: ${exported}`);
    served = await serveDir(site);
    browser = await launchChromium();
    fs.mkdirSync(ART, { recursive: true });
  });
  afterAll(async () => {
    await browser?.close();
    await served?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('says what it wrote, and a second export into the site replaces it', () => {
    expect(exported).toMatch(/site: index\.html, site\.js \(\d+\.\d\d MiB\), shaders\/ \(\d+\.\d\d MiB\), model\/ \(\d+\.\d\d MiB, weights f16\), index\/ \(\d+\.\d\d MiB\); \d+\.\d\d MiB in all$/);
    const again = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'coca.js'), 'export', 'web', path.join(dir, 'ck'), '--index', path.join(dir, 'idx'), '--out', path.join(dir, 'site')], { encoding: 'utf8', timeout: 120_000 });
    expect(again.status, again.stderr).toBe(0);
    const refused = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'coca.js'), 'export', 'web', path.join(dir, 'ck'), '--out', path.join(dir, 'pics')], { encoding: 'utf8', timeout: 120_000 });
    expect(refused.status).not.toBe(0);
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('captions a picked and a dropped picture as Node does, and names a file that is not one', async () => {
    const page = await browser.newPage({ viewport: { width: 900, height: 700 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    try {
      await page.goto(served.url);
      await page.waitForFunction(`['ready', 'no-webgpu', 'error'].includes(document.getElementById('status').dataset.state)`, undefined, { timeout: 120_000 });
      expect(await page.getAttribute('#status', 'data-state'), (await page.textContent('#status')) ?? '').toBe('ready');
      await shot(page, '1-ready');

      const captioned = async (before: string | null) => {
        await page.waitForFunction(`document.getElementById('caption').dataset.state === 'done' && document.getElementById('caption').textContent !== ${JSON.stringify(before)}`, undefined, { timeout: 120_000 });
        return page.textContent('#caption');
      };
      await page.setInputFiles('#file', pics.red);
      const red = await captioned(null);
      const want = await nodeCaption(pics.red);
      expect(red).toBe(want.text);
      const maps = (await page.evaluate('globalThis.cocaSite.maps.map((m) => Array.from(m))')) as number[][];
      expect(maps).toHaveLength(want.maps.length);
      for (const [k, m] of maps.entries()) {
        const r = compareClose(m, want.maps[k]!, { atol: 1e-5, rtol: 1e-4 });
        expect(r.ok, `word ${k}'s map: ${describeReport(r)}`).toBe(true);
      }
      await shot(page, '2-picked');
      await page.hover('#words .tok >> nth=0');
      await expect.poll(() => page.getAttribute('#heat', 'class')).toBe('on');
      await shot(page, '3-attention');
      await page.mouse.move(0, 0);
      await expect.poll(() => page.getAttribute('#heat', 'class')).toBe('');

      const bytes = fs.readFileSync(pics.blue).toString('base64');
      await page.evaluate(`(() => {
        const bin = Uint8Array.from(atob('${bytes}'), (c) => c.charCodeAt(0));
        const dt = new DataTransfer();
        dt.items.add(new File([bin], 'blue.jpg', { type: 'image/jpeg' }));
        document.getElementById('drop').dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
      })()`);
      const blue = await captioned(red);
      expect(blue).toBe((await nodeCaption(pics.blue)).text);
      await shot(page, '4-dropped');

      // Zero-shot labels for the dropped picture, against coca classify's computation in Node.
      const labels = ['red', 'blue', 'a green triangle'];
      await page.fill('#labels', labels.join(', '));
      await page.press('#labels', 'Enter');
      await page.waitForFunction(`document.getElementById('classes').dataset.state === 'done'`, undefined, { timeout: 120_000 });
      const got = (await page.evaluate('globalThis.cocaSite.classes')) as { label: string; p: number }[];
      {
        const model = loadCheckpoint(gpu, siteModel());
        try {
          const tokenizer = readCheckpointTokenizer(siteModel(), model.config)!;
          const pre = preprocessOf(model.config)!;
          const img = await decodePicture({ bytes: fs.readFileSync(pics.blue), maxPixels: 1e8, name: 'blue.jpg' }, pre, false);
          const input = new Float32Array(3 * pre.size * pre.size);
          toTensor(img, fullCrop(img), pre.size, pre.mean, pre.std, input);
          const E = model.config.embed_dim;
          const want = classify(await embedImages(model, input, 1), await classEmbeddings(model, tokenizer, labels, DEFAULT_TEMPLATES), E, await logitScale(model));
          expect(got.map((c) => c.label).sort()).toEqual([...labels].sort());
          for (const c of got) expect(Math.abs(c.p - want[labels.indexOf(c.label)]!), `p(${c.label})`).toBeLessThanOrEqual(1e-4);
        } finally {
          model.params.release();
        }
      }
      expect(await page.locator('#classes div').count()).toBe(labels.length);
      await shot(page, '5-classified');

      await page.setInputFiles('#file', { name: 'notes.png', mimeType: 'image/png', buffer: Buffer.from('not a picture') });
      await page.waitForFunction(`document.getElementById('caption').dataset.state === 'error'`, undefined, { timeout: 60_000 });
      expect(await page.textContent('#caption')).toMatch(/^cannot decode the picture: .*; the file is not an image this browser reads, or it is corrupt$/);
      await shot(page, '6-not-a-picture');

      // A text query against the exported index, as coca retrieve --text ranks it in Node.
      const query = 'a red square';
      await page.fill('#query', query);
      await page.press('#query', 'Enter');
      await page.waitForFunction(`document.getElementById('results').dataset.state === 'done'`, undefined, { timeout: 120_000 });
      const hits = (await page.evaluate('globalThis.cocaSite.hits')) as { index: number; score: number }[];
      const model = loadCheckpoint(gpu, siteModel());
      try {
        const index = loadIndex(path.join(dir, 'idx'));
        const q = await embedTexts(model, readCheckpointTokenizer(siteModel(), model.config)!, [query]);
        const want = topK(index.embeddings, q, Math.min(8, index.items.length));
        expect(hits.map((h) => h.index)).toEqual(want.map((h) => h.index));
        for (const [i, h] of hits.entries()) expect(Math.abs(h.score - want[i]!.score), `score of hit ${i}`).toBeLessThanOrEqual(1e-4);
        expect(await page.locator('#results figure').count()).toBe(want.length);
      } finally {
        model.params.release();
      }
      await shot(page, '7-search');
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  });

  it('coca serve serves the site at /web/, and its page captions there', async () => {
    const ck = openCheckpoint(gpu, path.join(dir, 'ck'));
    const s = await buildServer(gpu, ck, null, { ...DEFAULTS, web: path.join(dir, 'site') });
    const page = await browser.newPage();
    try {
      const url = await s.app.listen({ port: 0, host: '127.0.0.1' });
      await page.goto(`${url}/web/`);
      await page.waitForFunction(`document.getElementById('status').dataset.state === 'ready'`, undefined, { timeout: 120_000 });
      await page.setInputFiles('#file', pics.red);
      await page.waitForFunction(`document.getElementById('caption').dataset.state === 'done'`, undefined, { timeout: 120_000 });
      expect(await page.textContent('#caption')).toBe((await nodeCaption(pics.red)).text);
      // The service's own page and API are where they were.
      expect((await fetch(`${url}/api/health`)).status).toBe(200);
      await shot(page, '8-served');
    } finally {
      await page.close();
      await s.close();
      ck.release();
    }
  });
});
