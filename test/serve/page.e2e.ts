// The page in a real browser (Debian's chromium driven by playwright-core, no browser download):
// pick a picture → a caption appears; point at a word → its attention overlay shows; type a query
// → pictures appear; labels → probabilities; drop a second picture → a new caption. A screenshot
// of each state goes to test-artifacts/serve/. Code run in the page is passed as strings: the
// project compiles without the DOM's types. Without /usr/bin/chromium the test is skipped with
// the reason printed, except under CI, where a missing browser is a failure.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { buildServer, DEFAULTS, type Served } from '../../src/serve/server.ts';
import { testGpu } from '../helpers/gpu.ts';
import { serveFixture, type Fixture } from './helpers.ts';

const CHROMIUM = '/usr/bin/chromium';
const have = fs.existsSync(CHROMIUM);
if (!have && !process.env.CI) console.log(`e2e skipped: ${CHROMIUM} is absent (apt-get install -y chromium)`);
const ART = path.join(import.meta.dirname, '..', '..', 'test-artifacts', 'serve');

let gpu: Gpu;
let dir: string;
let fx: Fixture;
let s: Served;
let url: string;
let browser: Browser;

describe.skipIf(!have && !process.env.CI)('the page', () => {
  beforeAll(async () => {
    if (!have) throw new Error(`${CHROMIUM} is absent; CI must install Debian's chromium (apt-get install -y chromium)`);
    gpu = await testGpu();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-e2e-'));
    fx = await serveFixture(gpu, dir);
    s = await buildServer(gpu, fx.ck, fx.index, DEFAULTS);
    url = await s.app.listen({ port: 0, host: '127.0.0.1' });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      // playwright gives every launch a fresh, empty profile of its own (no --user-data-dir).
    });
    fs.mkdirSync(ART, { recursive: true });
  });
  afterAll(async () => {
    await browser?.close();
    await s?.close();
    fx?.ck.release();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const shot = (page: Page, name: string) => page.screenshot({ path: path.join(ART, `${name}.png`), fullPage: true });

  it('caption with attention overlay, image search, zero-shot labels, drag and drop', async () => {
    const page = await browser.newPage({ viewport: { width: 1100, height: 800 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(url);
    await expect.poll(() => page.textContent('#status')).toMatch(/checkpoint [0-9a-f]{16} .* 4 indexed pictures/);
    await shot(page, '1-empty');

    await page.selectOption('#beams', '1');
    await page.setInputFiles('#file', fx.pics.blue);
    await page.waitForSelector('#captions .caption .tok');
    expect(await page.textContent('#captions .caption .score')).toMatch(/^score -?\d+\.\d\d$/);
    await shot(page, '2-captioned');

    await page.hover('#captions .tok >> nth=0');
    await expect.poll(() => page.getAttribute('#heat', 'class')).toBe('on');
    const lit = (await page.evaluate(`(() => {
      const c = document.getElementById('heat');
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let alpha = 0;
      for (let i = 3; i < d.length; i += 4) alpha = Math.max(alpha, d[i]);
      return { w: c.width, alpha };
    })()`)) as { w: number; alpha: number };
    expect(lit.w).toBe(fx.ck.model.config.vision_cfg.image_size / fx.ck.model.config.vision_cfg.patch_size);
    expect(lit.alpha).toBe(255);
    await shot(page, '3-attention');
    await page.mouse.move(0, 0);
    await expect.poll(() => page.getAttribute('#heat', 'class')).toBe('');

    await page.fill('#query', 'a red square');
    await page.click('#search button');
    await page.waitForSelector('#results figure img');
    expect(await page.locator('#results figure').count()).toBe(4);
    await expect.poll(() => page.evaluate(`[...document.querySelectorAll('#results img')].every((i) => i.complete && i.naturalWidth === 160)`)).toBe(true);
    await shot(page, '4-search');
    // A folder index has no captions: each result names its file. A dataset index's results carry
    // their captions, which the grid shows above the file id (the server's answer stubbed here).
    expect(await page.locator('#results figure .said').count()).toBe(0);
    expect(await page.locator('#results figure .note').first().textContent()).toMatch(/^1\. \S+\.png · -?\d\.\d{3}$/);
    await page.route('**/api/retrieve?*', (route) =>
      route.fulfill({ json: { query: 'dog', results: [{ rank: 1, index: 0, score: 0.25, name: 'test-concept#7', captions: ['a dog on a surfboard', 'a surfing dog'], thumbnail: null }] } }),
    );
    await page.fill('#query', 'dog');
    await page.click('#search button');
    await expect.poll(() => page.locator('#results figure .said').allTextContents()).toEqual(['a dog on a surfboard']);
    expect(await page.textContent('#results figure .note')).toBe('1. test-concept#7 · 0.250');
    await page.unroute('**/api/retrieve?*');

    await page.fill('#labels', 'red square, blue circle, dog');
    await page.click('#classify button');
    await page.waitForSelector('#classes .bar');
    const pcts = await page.locator('#classes .bar span:last-child').allTextContents();
    expect(pcts).toHaveLength(3);
    expect(pcts.reduce((a, p) => a + parseFloat(p), 0)).toBeCloseTo(100, 0);
    await shot(page, '5-classified');

    // Drag and drop a second picture onto the drop zone: the caption is replaced.
    const before = await page.textContent('#captions');
    const bytes = fs.readFileSync(fx.pics.red).toString('base64');
    await page.evaluate(`(() => {
      const bin = Uint8Array.from(atob('${bytes}'), (c) => c.charCodeAt(0));
      const dt = new DataTransfer();
      dt.items.add(new File([bin], 'red.png', { type: 'image/png' }));
      document.getElementById('drop').dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    })()`);
    await expect.poll(async () => (await page.getAttribute('#picture', 'src'))?.startsWith('blob:')).toBe(true);
    await page.waitForFunction(`document.getElementById('captions').textContent !== ${JSON.stringify(before)} && !!document.querySelector('#captions .tok')`);
    await shot(page, '6-dropped');

    // An upload the server refuses shows its message.
    await page.setInputFiles('#file', { name: 'fake.png', mimeType: 'image/png', buffer: Buffer.from('not a picture') });
    await page.waitForSelector('#error:not([hidden])');
    expect(await page.textContent('#error')).toMatch(/^unsupported image type \(the upload said image\/png/);
    await shot(page, '7-refused');
    expect(errors).toEqual([]);
    await page.close();
  });

  it('fits a phone screen without sideways scrolling', async () => {
    const page = await browser.newPage({ viewport: { width: 375, height: 740 }, isMobile: true, hasTouch: true });
    await page.goto(url);
    await page.setInputFiles('#file', fx.pics.wide);
    await page.waitForSelector('#captions .tok');
    await page.tap('#captions .tok >> nth=0');
    await expect.poll(() => page.getAttribute('#heat', 'class')).toBe('on');
    expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(375);
    await shot(page, '8-phone');
    await page.close();
  });
});
