// coca serve's page, re-ranking (issue 21) in Debian's chromium: the checkbox is off, with its
// reason said, at one beam, while sampling, and where a served model has no text tower; on, it
// sends rerank and the weight with the caption request, and the caption shown is the API's
// re-ranked one with its similarity beside it. The page needs no WebGPU (the server captions).
// Skipped without /usr/bin/chromium, except under CI.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { buildServer, DEFAULTS, type Served } from '../../src/serve/server.ts';
import { testGpu } from '../helpers/gpu.ts';
import { form, read, serveFixture, type Fixture } from '../serve/helpers.ts';
import { CHROMIUM, launchChromium } from './serve.ts';

const have = fs.existsSync(CHROMIUM);
if (!have && !process.env.CI) console.log(`browser tests skipped: ${CHROMIUM} is absent (apt-get install -y chromium)`);

let gpu: Gpu;
let dir: string;
let fx: Fixture;
let s: Served;
let url: string;
let browser: Browser;

const state = (page: Page) => page.evaluate(`({ disabled: document.getElementById('rerank').disabled, note: document.getElementById('rerank-note').hidden ? '' : document.getElementById('rerank-note').textContent })`) as Promise<{ disabled: boolean; note: string }>;

describe.skipIf(!have && !process.env.CI)('coca serve page: re-rank by similarity', () => {
  beforeAll(async () => {
    if (!have) throw new Error(`${CHROMIUM} is absent; CI must install Debian's chromium (apt-get install -y chromium)`);
    gpu = await testGpu();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-serve-rerank-page-'));
    fx = await serveFixture(gpu, dir);
    s = await buildServer(gpu, fx.ck, null, DEFAULTS);
    url = await s.app.listen({ port: 0, host: '127.0.0.1' });
    browser = await launchChromium(false);
  });
  afterAll(async () => {
    await browser?.close();
    await s?.close();
    fx?.ck.release();
    gpu?.pool.trim();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('off at one beam and while sampling; on, it sends rerank and the weight and shows the API’s re-ranked caption with its similarity', async () => {
    const page = await browser.newPage({ viewport: { width: 1100, height: 800 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    // The caption requests' text fields, read in the page (chromium does not report a body with a file in it).
    await page.addInitScript(`{ const f = window.fetch; window.sent = []; window.fetch = (u, init) => { if (String(u).endsWith('/api/caption')) window.sent.push(Object.fromEntries([...init.body].filter(([, v]) => typeof v === 'string'))); return f(u, init); }; }`);
    const sent = () => page.evaluate('window.sent') as Promise<Record<string, string>[]>;
    await page.goto(url);
    await expect.poll(() => page.textContent('#status')).toMatch(/^checkpoint /);
    expect(await state(page)).toEqual({ disabled: false, note: '' }); // 6 beams by default
    await page.selectOption('#beams', '1');
    expect(await state(page)).toEqual({ disabled: true, note: 're-ranking needs 2 or more beams' });
    await page.selectOption('#beams', '3');
    await page.check('#sample');
    expect(await state(page)).toEqual({ disabled: true, note: 're-ranking chooses among beams, not samples' });
    await page.uncheck('#sample');
    expect(await state(page)).toEqual({ disabled: false, note: '' });
    expect(await page.isDisabled('#rerank-weight')).toBe(true); // weighs nothing until re-ranking is on

    await page.check('#rerank');
    expect(await page.isDisabled('#rerank-weight')).toBe(false);
    await page.fill('#rerank-weight', '0.5');
    await page.locator('#rerank-weight').blur(); // its change event now, while there is no picture to caption
    await page.setInputFiles('#file', fx.pics.blue);
    await page.waitForFunction(`document.querySelector('#captions .caption .sim') !== null`);
    expect((await sent()).at(-1)).toMatchObject({ beams: '3', rerank: 'true', rerankWeight: '0.5' });

    // What the API answers for the same picture and options.
    const r = await s.app.inject({ method: 'POST', url: '/api/caption', ...(await form({ bytes: read(fx.pics.blue), type: 'image/jpeg' }, { beams: 3, maxLen: 20, rerank: true, rerankWeight: 0.5 })) });
    expect(r.statusCode).toBe(200);
    const want = (r.json() as { captions: { tokens: { text: string }[]; rerank: { similarity: number } }[] }).captions[0]!;
    expect(await page.locator('#captions .caption .tok').allTextContents()).toEqual(want.tokens.map((t) => t.text).filter((t) => t !== '[EOT]'));
    expect(await page.textContent('#captions .caption .sim')).toBe(`similarity ${want.rerank.similarity.toFixed(3)}`);

    // Off again: the request carries no rerank, and the caption no similarity.
    const before = (await sent()).length;
    await page.uncheck('#rerank');
    await expect.poll(async () => (await sent()).length).toBe(before + 1);
    await page.waitForFunction(`document.querySelector('#captions .caption .tok') !== null && document.querySelector('#captions .sim') === null && !document.getElementById('captions').classList.contains('busy')`);
    const off = (await sent()).at(-1)!;
    expect(off).toMatchObject({ beams: '3' });
    expect(off).not.toHaveProperty('rerank');
    expect(off).not.toHaveProperty('rerankWeight');
    expect(errors).toEqual([]);
    await page.close();
  });

  it('off, with the reason, where a served model has no text tower', async () => {
    const page = await browser.newPage();
    // The health answer of a server that also serves a Show-and-Tell captioner (what the page reads).
    await page.route('**/api/health', async (route) => {
      const resp = await route.fetch();
      const h = (await resp.json()) as { models: { name: string; arch: string }[] };
      h.models.push({ ...h.models[0]!, name: 'tell', arch: 'showtell' });
      await route.fulfill({ response: resp, json: h });
    });
    await page.goto(url);
    await expect.poll(() => page.textContent('#status')).toMatch(/· 2 captioning models$/);
    expect(await state(page)).toEqual({ disabled: true, note: 're-ranking needs a CoCa model: tell has no text tower' });
    await page.close();
  });
});
