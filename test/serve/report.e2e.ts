// report.html in a real browser: each chart becomes an interactive uPlot chart (with no network:
// the page is a file), its axes labelled, and pointing at a step shows that step's values.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeReport } from '../../src/util/report.ts';

const CHROMIUM = '/usr/bin/chromium';
const have = fs.existsSync(CHROMIUM);
const ART = path.join(import.meta.dirname, '..', '..', 'test-artifacts', 'report');
let browser: Browser;
let dir: string;

describe.skipIf(!have && !process.env.CI)('report.html', () => {
  beforeAll(async () => {
    if (!have) throw new Error(`${CHROMIUM} is absent; CI must install Debian's chromium (apt-get install -y chromium)`);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-report-e2e-'));
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'] });
    fs.mkdirSync(ART, { recursive: true });
  });
  afterAll(async () => {
    await browser?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('draws every chart with uPlot, fetching nothing, and shows the values under the cursor', async () => {
    const file = path.join(dir, 'report.html');
    const steps = Array.from({ length: 50 }, (_, i) => i + 1);
    writeReport(file, 'coca train: nano', { steps: 50 }, [
      { title: 'training loss', yLabel: 'loss', series: [{ name: 'total', color: '#000', points: steps.map((s) => [s, 20 / s]) }, { name: 'caption', color: '#d62728', points: steps.map((s) => [s, 8 / s]) }] },
      { title: 'validation R@1', yLabel: 'R@1', series: [{ name: 'text→image', color: '#9467bd', points: [[25, 0.125], [50, 0.25]] }] },
    ]);
    const page = await browser.newPage({ viewport: { width: 900, height: 900 } });
    const requests: string[] = [];
    const errors: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`file://${file}`);
    await page.waitForSelector('#chart-1 .uplot canvas');
    expect(errors).toEqual([]);
    expect(requests.filter((u) => !u.startsWith('file://') && !u.startsWith('data:'))).toEqual([]);
    expect(await page.locator('#chart-0 svg').count()).toBe(0);
    expect(await page.locator('#chart-0 .u-label').allTextContents()).toEqual(['step', 'total', 'caption']);
    // uPlot draws axis labels on its canvas: read them from the chart objects the page keeps.
    expect(await page.evaluate('cocaCharts.map((u) => u.axes.map((a) => a.label))')).toEqual([['step', 'loss'], ['step', 'R@1']]);
    // Point at the middle of the first chart: the legend names a step and both losses at it.
    const over = page.locator('#chart-0 .u-over');
    const box = (await over.boundingBox())!;
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    const values = await page.locator('#chart-0 .u-legend .u-value').allTextContents();
    const step = Number(values[0]);
    expect(steps).toContain(step);
    expect(Number(values[1])).toBeCloseTo(20 / step, 3);
    expect(Number(values[2])).toBeCloseTo(8 / step, 3);
    await page.screenshot({ path: path.join(ART, 'report.png'), fullPage: true });
  });
});
