// coca serve's page with two checkpoints (issue 22) in Debian's chromium: one upload, and each
// model's caption appears in its own column, named with its architecture, the words those the API
// gives for that model; pointing at a word of the second model draws its attention overlay. The
// page needs no WebGPU (the server captions), so chromium starts without it. Skipped without
// /usr/bin/chromium, except under CI.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { openCheckpoint, type OpenCheckpoint } from '../../src/infer/load.ts';
import { buildServer, DEFAULTS, type Served } from '../../src/serve/server.ts';
import { testGpu } from '../helpers/gpu.ts';
import { makeCheckpoint } from '../infer/fixture.ts';
import { form, read, serveFixture, type Fixture } from '../serve/helpers.ts';
import { CHROMIUM, launchChromium } from './serve.ts';

const have = fs.existsSync(CHROMIUM);
if (!have && !process.env.CI) console.log(`browser tests skipped: ${CHROMIUM} is absent (apt-get install -y chromium)`);

let gpu: Gpu;
let dir: string;
let fx: Fixture;
let other: OpenCheckpoint;
let s: Served;
let url: string;
let browser: Browser;

describe.skipIf(!have && !process.env.CI)('coca serve with two checkpoints, in the browser', () => {
  beforeAll(async () => {
    if (!have) throw new Error(`${CHROMIUM} is absent; CI must install Debian's chromium (apt-get install -y chromium)`);
    gpu = await testGpu();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-serve-models-'));
    fx = await serveFixture(gpu, dir);
    await makeCheckpoint(gpu, path.join(dir, 'other'), 11);
    other = openCheckpoint(gpu, path.join(dir, 'other'));
    s = await buildServer(gpu, fx.ck, fx.index, { ...DEFAULTS, name: 'first' }, [{ name: 'second', arch: 'coca', ck: other }]);
    url = await s.app.listen({ port: 0, host: '127.0.0.1' });
    browser = await launchChromium(false);
  });
  afterAll(async () => {
    await browser?.close();
    await s?.close();
    fx?.ck.release();
    other?.release();
    gpu?.pool.trim();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('one upload: two captions side by side, each named, each the API’s for its model; a word of the second lights its overlay', async () => {
    const page = await browser.newPage({ viewport: { width: 1100, height: 800 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(url);
    await expect.poll(() => page.textContent('#status')).toMatch(/· 2 captioning models$/);
    await page.selectOption('#beams', '1');
    await page.setInputFiles('#file', fx.pics.blue);
    await page.waitForFunction(`document.querySelectorAll('#captions .model .caption .tok').length > 0 && [...document.querySelectorAll('#captions .model')].every((m) => m.querySelector('.tok'))`);
    expect(await page.locator('#captions .model h3').allTextContents()).toEqual(['first · coca', 'second · coca']);

    // What the API answers for the same picture and options, model by model.
    const r = await s.app.inject({ method: 'POST', url: '/api/caption', ...(await form({ bytes: read(fx.pics.blue), type: 'image/jpeg' }, { beams: 1, maxLen: 20 })) });
    const models = (r.json() as { models: { captions: { tokens: { text: string }[] }[] }[] }).models;
    expect(models).toHaveLength(2);
    for (const [i, m] of models.entries()) {
      const shown = await page.locator(`#captions .model >> nth=${i}`).locator('.tok').allTextContents();
      expect(shown).toEqual(m.captions[0]!.tokens.map((t) => t.text).filter((t) => t !== '[EOT]'));
    }

    await page.hover('#captions .model >> nth=1 >> .tok >> nth=0');
    await expect.poll(() => page.getAttribute('#heat', 'class')).toBe('on');
    expect(await page.evaluate(`document.getElementById('heat').width`)).toBe(other.model.config.vision_cfg.image_size / other.model.config.vision_cfg.patch_size);
    expect(errors).toEqual([]);
    await page.close();
  });
});
