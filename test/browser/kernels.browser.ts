// The kernel suite in a browser tab (test/browser/kernels.page.ts), built with the same esbuild
// set-up as `npm run build:web`, served from 127.0.0.1 and run in Debian's chromium on whatever
// WebGPU adapter it gives (SwiftShader on a machine without a GPU; the adapter is printed). Then
// the same suite once more with one shader broken on purpose, which must fail: a suite that
// passes whatever the kernels compute would pass that too. Without /usr/bin/chromium the test is
// skipped with the reason printed, except under CI, where a missing browser is a failure.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWeb } from '../../scripts/build-web.ts';
import type { SuiteOptions, SuiteReport } from './kernels.page.ts';
import { CHROMIUM, launchChromium, serveDir, type Served } from './serve.ts';

const have = fs.existsSync(CHROMIUM);
if (!have && !process.env.CI) console.log(`browser tests skipped: ${CHROMIUM} is absent (apt-get install -y chromium)`);

const seed = process.env.COCA_SEED ? Number(process.env.COCA_SEED) : (Date.now() ^ (process.pid << 8)) >>> 0;

// The break: layernorm's variance divided by cols + 1 instead of cols, in the row statistics that
// layernorm.wgsl (and the skinny matmul's fused layernorm) include. It compiles and runs, so only a
// comparison against the reference can see it (a row of one element has variance 0 and still passes).
const BREAK = { file: 'layernorm_row', from: '/ f32(cols) + eps', to: '/ f32(cols + 1u) + eps' };

let dir: string;
let served: Served;
let browser: Browser;

async function runInTab(o: SuiteOptions): Promise<{ report: SuiteReport; errors: string[] }> {
  const page: Page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  try {
    await page.goto(served.url);
    await page.waitForFunction('globalThis.cocaKernelSuite !== undefined');
    const report = (await page.evaluate(`globalThis.cocaKernelSuite.runSuite(${JSON.stringify(o)})`)) as SuiteReport;
    return { report, errors };
  } finally {
    await page.close();
  }
}

const failures = (r: SuiteReport) => r.results.filter((c) => !c.ok).map((c) => `${c.family} ${c.name}: ${c.error}`);

describe.skipIf(!have && !process.env.CI)('kernels in the browser', () => {
  beforeAll(async () => {
    if (!have) throw new Error(`${CHROMIUM} is absent; CI must install Debian's chromium (apt-get install -y chromium)`);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-browser-'));
    await buildWeb({ entries: ['test/browser/kernels.page.ts'], outdir: dir, minify: false });
    fs.writeFileSync(path.join(dir, 'index.html'), '<!doctype html><meta charset="utf-8"><title>coca kernels</title><script type="module" src="kernels.page.js"></script>\n');
    const broken = path.join(dir, 'shaders-broken');
    fs.cpSync(path.join(dir, 'shaders'), broken, { recursive: true });
    const file = path.join(broken, `${BREAK.file}.wgsl`);
    const text = fs.readFileSync(file, 'utf8');
    expect(text.split(BREAK.from), `${BREAK.file}.wgsl holds "${BREAK.from}" once (the break must change something)`).toHaveLength(2);
    fs.writeFileSync(file, text.replace(BREAK.from, BREAK.to));
    served = await serveDir(dir);
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await served?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('matmul variants, softmax, layernorm, attention, cross-entropy and AdamW match their float64 references', async () => {
    const t = performance.now();
    const { report, errors } = await runInTab({ seed });
    const a = report.adapter;
    console.log(
      `browser adapter: ${a.vendor} ${a.architecture}${a.description ? ` (${a.description})` : ''} in chromium ${browser.version()}; ` +
        `software ${a.software}, subgroup size ${a.subgroupSize || 'varies'}, features ${a.features.join(', ')}`,
    );
    const byFamily = new Map<string, number>();
    for (const c of report.results) byFamily.set(c.family, (byFamily.get(c.family) ?? 0) + 1);
    console.log(`browser kernel suite: ${report.results.length} cases (${[...byFamily].map(([f, n]) => `${f} ${n}`).join(', ')}) in ${((performance.now() - t) / 1000).toFixed(1)} s, seed ${seed}`);
    const slowest = [...report.results].sort((x, y) => y.ms - x.ms).slice(0, 6);
    console.log(`slowest: ${slowest.map((c) => `${c.family} ${c.name} ${(c.ms / 1000).toFixed(1)} s`).join('; ')}`);
    expect(errors, 'uncaught errors in the page').toEqual([]);
    expect(failures(report), `reproduce with COCA_SEED=${seed}`).toEqual([]);
    expect([...byFamily.keys()].sort()).toEqual(['adamw', 'attention', 'crossentropy', 'layernorm', 'matmul', 'softmax']);
    expect(report.results.length).toBeGreaterThanOrEqual(40);
  });

  it(`fails when a kernel is broken (${BREAK.file}.wgsl: "${BREAK.from}" → "${BREAK.to}")`, async () => {
    const { report } = await runInTab({ seed, only: ['layernorm'], shaders: 'shaders-broken/' });
    const bad = report.results.filter((c) => !c.ok);
    expect(report.results.length).toBeGreaterThan(0);
    expect(bad.length, 'cases that caught the broken layernorm').toBeGreaterThan(0);
    // Caught by comparing values (rstd first), not by a shader that stopped compiling.
    for (const c of bad) expect(c.error).toMatch(/^(y|mean|rstd|dx|dgamma|dbeta): \d+\/\d+ mismatches/);
  });
});
