// The page `npm run build:web` writes (src/web/index.html + coca.js) in Debian's chromium: with
// WebGPU it opens the device and names the adapter; without it (navigator.gpu missing, as in an
// old browser; an adapter refused, as when the GPU is blocked; a chromium started without the
// WebGPU flags) it says in one sentence what is missing and how to enable it, with no stack trace
// and no uncaught error. Skipped without /usr/bin/chromium, except under CI.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWeb } from '../../scripts/build-web.ts';
import { CHROMIUM, launchChromium, serveDir, type Served } from './serve.ts';

const have = fs.existsSync(CHROMIUM);
if (!have && !process.env.CI) console.log(`browser tests skipped: ${CHROMIUM} is absent (apt-get install -y chromium)`);

const NO_WEBGPU = 'This browser has no WebGPU: use a current Chrome, Edge or Safari, or turn WebGPU on in its settings (chrome://flags/#enable-unsafe-webgpu).';
const BLOCKED = 'WebGPU is present but gave no adapter (the GPU is blocked or unavailable): update the graphics driver or allow it at chrome://flags/#enable-unsafe-webgpu.';

let dir: string;
let served: Served;
let browser: Browser;

/** The status line and state of the page in `b`, after `init` (a script run before the page's own). */
async function statusOf(b: Browser, init?: string): Promise<{ state: string | null; text: string | null; errors: string[] }> {
  const page = await b.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(`uncaught: ${e.message}`));
  page.on('console', (m) => {
    if (/\n\s+at /.test(m.text())) errors.push(`stack in the console: ${m.text()}`);
  });
  try {
    if (init) await page.addInitScript(init);
    await page.goto(served.url);
    await page.waitForFunction(`['ready', 'no-webgpu', 'error'].includes(document.getElementById('status').dataset.state)`, undefined, { timeout: 60_000 });
    return { state: await page.getAttribute('#status', 'data-state'), text: await page.textContent('#status'), errors };
  } finally {
    await page.close();
  }
}

describe.skipIf(!have && !process.env.CI)('the page', () => {
  beforeAll(async () => {
    if (!have) throw new Error(`${CHROMIUM} is absent; CI must install Debian's chromium (apt-get install -y chromium)`);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-page-'));
    await buildWeb({ outdir: dir });
    served = await serveDir(dir);
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await served?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('opens the GPU and names the adapter', async () => {
    const s = await statusOf(browser);
    console.log(`page with WebGPU: ${s.text}`);
    expect(s).toMatchObject({ state: 'ready', errors: [] });
    expect(s.text).toMatch(/^coca is ready on \S.* \(WebGPU(, software)?\)\.$/);
  });

  it('says in one sentence that the browser has no WebGPU', async () => {
    const s = await statusOf(browser, "Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined, configurable: true });");
    expect(s).toEqual({ state: 'no-webgpu', text: NO_WEBGPU, errors: [] });
  });

  it('says in one sentence that the adapter was refused', async () => {
    const s = await statusOf(browser, 'GPU.prototype.requestAdapter = async () => null;');
    expect(s).toEqual({ state: 'no-webgpu', text: BLOCKED, errors: [] });
  });

  it('says so in a chromium started without the WebGPU flags', async () => {
    const plain = await launchChromium(false);
    try {
      const s = await statusOf(plain);
      console.log(`page in chromium without the WebGPU flags: ${s.text}`);
      expect(s.state).toBe('no-webgpu');
      expect([NO_WEBGPU, BLOCKED]).toContain(s.text);
      expect(s.errors).toEqual([]);
    } finally {
      await plain.close();
    }
  });
});
