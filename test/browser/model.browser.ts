// nano trained in a browser tab against nano trained in Node: one seed, one batch of the
// packaged built-in data (pictures and captions prepared in Node, sent to the tab as they are);
// the loss, eight training steps (losses and gradient norms: the two loss curves) and the loss
// and every parameter after them, computed by Dawn here and by the tab's WebGPU (SwiftShader
// without a GPU) there. The two adapters run different kernel variants (subgroup sizes 8 and 4)
// and so add in different orders: losses within 1e-5 relative, parameters within 5e-5 (measured:
// 8e-8 and 6.9e-6). Needs the built-in data (scripts/setup.sh builds it). Skipped without
// /usr/bin/chromium, except under CI.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWeb } from '../../scripts/build-web.ts';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { fullCrop, toTensor } from '../../src/data/augment.ts';
import { loadDataset, loadTokenizer } from '../../src/data/index.ts';
import { defaultPreprocess } from '../../src/data/preprocess.ts';
import { loadConfig, withVocabSize } from '../../src/model/config.ts';
import { compareClose, describeReport } from '../../src/util/allclose.ts';
import { testGpu } from '../helpers/gpu.ts';
import { runModel, type ModelRun, type ModelRunOptions } from './model-run.ts';
import { CHROMIUM, launchChromium, serveDir, type Served } from './serve.ts';

const have = fs.existsSync(CHROMIUM);
if (!have && !process.env.CI) console.log(`browser tests skipped: ${CHROMIUM} is absent (apt-get install -y chromium)`);


let dir: string;
let served: Served;
let browser: Browser;
let gpu: Gpu;

describe.skipIf(!have && !process.env.CI)('the model in the browser against Node', () => {
  beforeAll(async () => {
    if (!have) throw new Error(`${CHROMIUM} is absent; CI must install Debian's chromium (apt-get install -y chromium)`);
    gpu = await testGpu();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-model-'));
    await buildWeb({ entries: ['test/browser/model.page.ts'], outdir: dir, minify: false });
    fs.writeFileSync(path.join(dir, 'index.html'), '<!doctype html><meta charset="utf-8"><title>coca model</title><script type="module" src="model.page.js"></script>\n');
    served = await serveDir(dir);
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await served?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  /** The run in Node and in a tab, compared; `name` in the log. */
  async function compare(name: string, o: ModelRunOptions): Promise<void> {
    const t0 = performance.now();
    const node = await runModel(gpu, o);
    const t1 = performance.now();
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    let tab: ModelRun & { adapter: string };
    try {
      await page.goto(served.url);
      await page.waitForFunction('globalThis.cocaModelRun !== undefined');
      tab = (await page.evaluate(`globalThis.cocaModelRun(${JSON.stringify(o)})`)) as ModelRun & { adapter: string };
    } finally {
      await page.close();
    }
    const t2 = performance.now();
    const names = Object.keys(node.params);
    let worst = { name: '', err: 0 };
    for (const n of names) {
      const a = node.params[n]!;
      const b = tab.params[n] ?? [];
      for (let i = 0; i < a.length; i++) if (Math.abs(a[i]! - b[i]!) > worst.err) worst = { name: `${n}[${i}]`, err: Math.abs(a[i]! - b[i]!) };
    }
    const rel = (x: number, y: number) => Math.abs(x - y) / Math.max(Math.abs(y), 1e-30);
    console.log(
      `${name}: Node (${gpu.adapter.description || gpu.adapter.device}) ${((t1 - t0) / 1000).toFixed(1)} s, tab (${tab.adapter}) ${((t2 - t1) / 1000).toFixed(1)} s; ` +
        `loss ${node.before.total.toFixed(6)} vs ${tab.before.total.toFixed(6)} (rel ${rel(tab.before.total, node.before.total).toExponential(1)}), ` +
        `after ${o.steps} steps ${node.after.total.toFixed(6)} vs ${tab.after.total.toFixed(6)} (rel ${rel(tab.after.total, node.after.total).toExponential(1)}); ` +
        `largest parameter difference ${worst.err.toExponential(2)} at ${worst.name}`,
    );
    console.log(`${name} loss curve, Node: ${[node.before, ...node.steps.slice(1), node.after].map((l) => l.total.toFixed(5)).join(' ')}`);
    console.log(`${name} loss curve, tab:  ${[tab.before, ...tab.steps.slice(1), tab.after].map((l) => l.total.toFixed(5)).join(' ')}`);
    expect(errors).toEqual([]);
    // Measured on lavapipe against SwiftShader: losses and gradient norms within 8e-8 relative,
    // parameters within 6.9e-6 (float32 sums in other orders: the adapters' subgroup sizes, 8 and
    // 4, pick other kernel variants). The bounds are 7 times that and more; a wrong kernel, a
    // skipped update or a different batch is off by orders of magnitude beyond them.
    const LOSS = { atol: 1e-6, rtol: 1e-5 };
    const flat = (r: ModelRun) => [r.before, ...r.steps, r.after].flatMap((l) => [l.contrastive, l.caption, l.total, 'gradNorm' in l ? (l.gradNorm as number) : 0]);
    const losses = compareClose(flat(tab), flat(node), LOSS);
    expect(losses.ok, `losses and gradient norms: ${describeReport(losses)}`).toBe(true);
    expect(tab.steps.map((st) => st.nonFinite)).toEqual(node.steps.map(() => null));
    // AdamW's first steps move each parameter by about lr·sign(g) (lr 1e-3): an element whose
    // gradient is ~0 could move differently; none did by more than 6.9e-6 in eight steps.
    expect(Object.keys(tab.params).sort()).toEqual([...names].sort());
    for (const n of names) {
      const r = compareClose(tab.params[n]!, node.params[n]!, { atol: 5e-5, rtol: 0 });
      expect(r.ok, `${n}: ${describeReport(r)}`).toBe(true);
    }
    // And the steps did move them: a run that skipped the update would pass the above otherwise.
    expect(node.after.total).toBeLessThan(node.before.total);
  }

  it('nano on a batch of the built-in data: the same loss curve over eight steps', async () => {
    // The packaged data's pictures and captions, prepared in Node; the same batch goes to the tab.
    const tok = loadTokenizer('builtin-small');
    const ds = await loadDataset('builtin-small', { split: 'train' });
    try {
      const config = withVocabSize(loadConfig('nano'), tok.vocabSize);
      const B = 8;
      const S = config.vision_cfg.image_size;
      const pre = defaultPreprocess(S);
      const images = new Float32Array(B * 3 * S * S);
      const captions: string[] = [];
      for (let i = 0; i < B; i++) {
        const img = await ds.image(i * 7, 'eval');
        toTensor(img, fullCrop(img), S, pre.mean, pre.std, images, i * 3 * S * S);
        captions.push(ds.captions(i * 7)[0]!);
      }
      const text = tok.encodeBatch(captions, config.text_cfg.context_length);
      await compare('nano, built-in data', { config, seed: 21, batchSeed: 0, batch: B, steps: 8, lr: 1e-3, inputs: { images: Array.from(images), text: Array.from(text) } });
    } finally {
      ds.close();
    }
  });
});
