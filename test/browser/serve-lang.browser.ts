// coca serve's page in the seeds' languages (issue 21), in Debian's chromium: a multilingual
// checkpoint shows a caption-language picker with its languages, and picking Russian changes the
// caption to the API's Russian one; a Cyrillic search says it was read as Russian from its script;
// an English-only checkpoint shows no picker at all. The page needs no WebGPU (the server
// captions), so chromium starts without it. Skipped without /usr/bin/chromium, except under CI.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { openCheckpoint, type OpenCheckpoint } from '../../src/infer/load.ts';
import { buildIndex } from '../../src/infer/retrieval.ts';
import { buildServer, DEFAULTS, type Served } from '../../src/serve/server.ts';
import { testGpu } from '../helpers/gpu.ts';
import { makeCheckpoint, makePictures } from '../infer/fixture.ts';
import { form, read } from '../serve/helpers.ts';
import { CHROMIUM, launchChromium } from './serve.ts';

const have = fs.existsSync(CHROMIUM);
if (!have && !process.env.CI) console.log(`browser tests skipped: ${CHROMIUM} is absent (apt-get install -y chromium)`);

let gpu: Gpu;
let dir: string;
let multi: OpenCheckpoint;
let plain: OpenCheckpoint;
let pics: Awaited<ReturnType<typeof makePictures>>;
let s: Served;
let sPlain: Served;
let url: string;
let urlPlain: string;
let browser: Browser;

const shownTokens = (page: import('playwright-core').Page) => page.locator('#captions .caption .tok').allTextContents();

describe.skipIf(!have && !process.env.CI)("coca serve's language picker, in the browser", () => {
  beforeAll(async () => {
    if (!have) throw new Error(`${CHROMIUM} is absent; CI must install Debian's chromium (apt-get install -y chromium)`);
    gpu = await testGpu();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-serve-lang-'));
    await makeCheckpoint(gpu, path.join(dir, 'multi'), 5, 3, ['en', 'ru', 'zh', 'ms']);
    await makeCheckpoint(gpu, path.join(dir, 'plain'), 5);
    pics = await makePictures(path.join(dir, 'pics'));
    multi = openCheckpoint(gpu, path.join(dir, 'multi'));
    plain = openCheckpoint(gpu, path.join(dir, 'plain'));
    const index = await buildIndex(multi, path.join(dir, 'index'), { folder: path.join(dir, 'pics'), warn: () => {} });
    s = await buildServer(gpu, multi, index, { ...DEFAULTS, name: 'multi' });
    sPlain = await buildServer(gpu, plain, null, { ...DEFAULTS, name: 'plain' });
    url = await s.app.listen({ port: 0, host: '127.0.0.1' });
    urlPlain = await sPlain.app.listen({ port: 0, host: '127.0.0.1' });
    browser = await launchChromium(false);
  });
  afterAll(async () => {
    await browser?.close();
    await s?.close();
    await sPlain?.close();
    multi?.release();
    plain?.release();
    gpu?.pool.trim();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("a multilingual model: the picker lists its languages and picking Russian shows the API's Russian caption", async () => {
    const page = await browser.newPage({ viewport: { width: 1100, height: 800 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(url);
    await expect.poll(() => page.isVisible('#lang-pick')).toBe(true);
    expect(await page.locator('#lang option').evaluateAll((os) => os.map((o) => (o as unknown as { value: string }).value))).toEqual(['en', 'ru', 'zh', 'ms']);

    // What the API answers for the same picture and options, in each language.
    const api = async (lang: string) => {
      const r = await s.app.inject({ method: 'POST', url: '/api/caption', ...(await form({ bytes: read(pics.blue), type: 'image/jpeg' }, { beams: 1, maxLen: 20, lang })) });
      return (r.json() as { captions: { tokens: { text: string }[] }[] }).captions[0]!.tokens.map((t) => t.text).filter((t) => t !== '[EOT]');
    };
    const [en, ru] = [await api('en'), await api('ru')];
    expect(ru).not.toEqual(en);

    await page.selectOption('#beams', '1');
    await page.setInputFiles('#file', pics.blue);
    await expect.poll(() => shownTokens(page)).toEqual(en);
    await page.selectOption('#lang', 'ru');
    await expect.poll(() => shownTokens(page)).toEqual(ru);

    // Search: Cyrillic is read as Russian, and the page says so and why.
    await page.fill('#query', 'собака');
    await page.click('#search button');
    await expect.poll(() => page.textContent('#query-lang-note')).toBe('read as русский (detected from its script)');
    await page.selectOption('#query-lang', 'ms');
    await page.fill('#query', 'anjing');
    await page.click('#search button');
    await expect.poll(() => page.textContent('#query-lang-note')).toBe('read as Bahasa Melayu (as picked)');
    expect(errors).toEqual([]);
    await page.close();
  });

  it('an English-only model: no language picker, for captions or search', async () => {
    const page = await browser.newPage({ viewport: { width: 1100, height: 800 } });
    await page.goto(urlPlain);
    await expect.poll(() => page.textContent('#status')).toMatch(/^checkpoint /);
    expect(await page.isVisible('#lang-pick')).toBe(false);
    expect(await page.isVisible('#query-lang')).toBe(false);
    await page.close();
  });
});
