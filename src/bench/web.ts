// `coca bench web`: coca in a browser tab against coca in Node, on the same machine in one run.
// Sizes: the bundles (minified, and gzip -9 as a server would send them), the exported site of a
// nano checkpoint (model included) and the train-in-a-tab page (its data included). Speeds, each
// side by side: time to first caption (a fresh device: open it, load the checkpoint, caption one
// picture; in the tab from navigating to the exported site to its first caption shown), captions/s
// (one picture at a time, as the page does: decode, beam search of 3 with the word maps), and
// training steps/s of nano at batch 32 (the page's default) on the page's data. Node runs on this
// process's adapter (Dawn; lavapipe without a GPU), the tab in Debian's chromium on its WebGPU
// adapter (SwiftShader without a GPU). Both sides caption with the same weights: --checkpoint's,
// or else the nano the Node side trains here for its few steps (whose captions are a token or
// two); the captions' lengths are reported, since a caption's cost grows with its tokens. The
// site stores the weights in half precision (coca export web's default); the float32 site's size
// is given beside it. Needs playwright-core (a dev dependency) and
// /usr/bin/chromium; without them the case says so and measures nothing.
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import sharp from 'sharp';
import { fullCrop, toTensor } from '../data/augment.ts';
import { decodePicture } from '../data/image.ts';
import { loadDataset } from '../data/load.ts';
import { MemoryDataset } from '../data/memory-set.ts';
import { loadTokenizer } from '../data/load.ts';
import { Gpu } from '../gpu/gpu.ts';
import { captionImages } from '../infer/caption.ts';
import { poolerPatchWeights } from '../infer/word-maps.ts';
import { resolveCheckpointDir } from '../infer/load.ts';
import { writeCheckpointFolder } from '../model/checkpoint-folder.ts';
import { loadCheckpoint, modelFiles, readCheckpointTokenizer } from '../model/checkpoint.ts';
import { parseConfig, preprocessOf } from '../model/config-schema.ts';
import { TrainingSession, defaultWarmup } from '../train/session.ts';
import { buildWeb } from '../web/bundle.node.ts';
import { exportWeb } from '../web/export.node.ts';
import { writeTrainSite } from '../web/train-site.node.ts';
import { BenchInputError, fmt, printTable, type BenchFamily } from '../../kernels/bench/harness.ts';

const CHROMIUM = '/usr/bin/chromium';
const WEBGPU_FLAGS = ['--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader', '--enable-unsafe-swiftshader'];
const KiB = 1024;
const MiB = 2 ** 20;

interface Side {
  /** From nothing open to the first caption shown, ms. */
  firstCaptionMs: number;
  captionsPerSec: number;
  /** Tokens per caption, mean. */
  tokens: number;
  stepsPerSec: number;
  /** The first step (pipelines compile), ms. */
  firstStepMs: number;
  adapter: string;
}

/** --sizes pictures:steps:batch (default 6:4:32): captions timed, training steps (the first untimed), batch. */
export function parseWebSizes(text: string | undefined): { pictures: number; steps: number; batch: number } {
  const m = /^\s*(\d+):(\d+):(\d+)\s*$/.exec(text ?? '6:4:32');
  if (!m || Number(m[1]) < 1 || Number(m[2]) < 2 || Number(m[3]) < 2) throw new BenchInputError(`--sizes ${text}: give pictures:steps:batch with at least 1 picture, 2 steps (the first compiles and is not timed) and a batch of 2, e.g. 6:4:32`);
  return { pictures: Number(m[1]), steps: Number(m[2]), batch: Number(m[3]) };
}

const gzipBytes = (file: string) => zlib.gzipSync(fs.readFileSync(file), { level: 9 }).length;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function dirBytes(dir: string): number {
  let n = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) n += e.isDirectory() ? dirBytes(path.join(dir, e.name)) : fs.statSync(path.join(dir, e.name)).size;
  return n;
}

function serve(root: string): Promise<{ url: string; close(): Promise<void> }> {
  const types: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.json': 'application/json' };
  const server = http.createServer((req, res) => {
    const rel = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const file = path.join(root, rel.endsWith('/') ? `${rel}index.html` : rel);
    if (!file.startsWith(root + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': types[path.extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
    res.end(fs.readFileSync(file));
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, close: () => new Promise<void>((r) => server.close(() => r())) })),
  );
}

/** Node: a fresh device, the checkpoint loaded, pictures captioned as the page does. */
async function nodeCaptions(ck: string, pictures: string[]): Promise<Pick<Side, 'firstCaptionMs' | 'captionsPerSec' | 'tokens'>> {
  const t0 = performance.now();
  const gpu = await Gpu.open();
  try {
    const model = loadCheckpoint(gpu, ck);
    const tokenizer = readCheckpointTokenizer(ck, model.config)!;
    const pre = preprocessOf(model.config)!;
    const one = async (file: string) => {
      const img = await decodePicture({ bytes: fs.readFileSync(file), maxPixels: 1e8, name: file }, pre, false);
      const images = new Float32Array(3 * pre.size * pre.size);
      toTensor(img, fullCrop(img), pre.size, pre.mean, pre.std, images);
      await poolerPatchWeights(model, images, 1);
      const [c] = await captionImages(model, images, 1, { beams: 3, maxLen: model.config.text_cfg.context_length, recordAttention: true, ...tokenizer.searchIds() });
      return c!.tokens.length - 1;
    };
    await one(pictures[0]!);
    const firstCaptionMs = performance.now() - t0;
    const t1 = performance.now();
    let tokens = 0;
    for (const p of pictures) tokens += await one(p);
    const captionsPerSec = (pictures.length * 1000) / (performance.now() - t1);
    model.params.release();
    return { firstCaptionMs, captionsPerSec, tokens: tokens / pictures.length };
  } finally {
    gpu.destroy();
  }
}

export const webBench: BenchFamily = {
  name: 'web',
  describe: 'coca in a chromium tab (its WebGPU adapter; SwiftShader without a GPU) against Node on this adapter: bundle and site sizes, time to first caption, captions/s, nano training steps/s (--sizes pictures:steps:batch, default 6:4:32)',
  async run(ctx) {
    const { pictures: P, steps, batch } = parseWebSizes(ctx.sizes);
    let pw: typeof import('playwright-core');
    try {
      pw = await import('playwright-core');
    } catch {
      console.log('  not measured: playwright-core is not installed (a dev dependency of coca: npm install in its folder)');
      return { failed: 0, report: { skipped: 'no playwright-core' } };
    }
    if (!fs.existsSync(CHROMIUM)) {
      console.log(`  not measured: ${CHROMIUM} is absent (apt-get install chromium, or bash scripts/setup.sh --e2e)`);
      return { failed: 0, report: { skipped: 'no chromium' } };
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-bench-web-'));
    const browser = await pw.chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', ...WEBGPU_FLAGS] });
    try {
      // Sizes: the bundle as npm run build:web writes it, the train page, and (below) the site.
      const dist = path.join(dir, 'dist');
      const b = await buildWeb({ outdir: dist });
      const trainDir = path.join(dir, 'train');
      const trainSite = await writeTrainSite(trainDir, { pairs: 512 });

      // Training: Node steps through the same session the page runs, on the page's own files.
      const read = (f: string) => fs.readFileSync(path.join(trainDir, f));
      const data = MemoryDataset.parse(read('data/manifest.json').toString(), read('data/train.jsonl').toString(), new Uint8Array(read('data/train.32px.u8')), 'train');
      const config = parseConfig(JSON.parse(read('config.json').toString()), 'config.json');
      const tokenizer = loadTokenizer(path.join(trainDir, 'data'));
      const o = { steps, batch, lr: 1e-3, seed: ctx.seed, warmup: defaultWarmup(steps) };
      const session = new TrainingSession(ctx.gpu, config, data, tokenizer, o);
      const nodeMs: number[] = [];
      const ckDir = path.join(dir, 'ck');
      try {
        for (let i = 0; i < steps; i++) nodeMs.push((await session.next()).ms);
        writeCheckpointFolder(ckDir, await modelFiles(session.model, read('tokenizer.json').toString()), steps);
      } finally {
        session.release();
      }
      const captioner = ctx.checkpoint ? resolveCheckpointDir(ctx.checkpoint) : ckDir;
      const site = path.join(dir, 'site');
      const exported = await exportWeb(captioner, site);
      const exported32 = await exportWeb(captioner, path.join(dir, 'site32'), undefined, 'f32');
      console.log(`  Node trained ${steps} steps of ${batch}: ${nodeMs.map((m) => fmt(m, 0)).join(' ')} ms`);

      // Pictures: val pictures the model never trained on, as PNG files.
      const val = await loadDataset('builtin-small', { split: 'val' });
      const pics: string[] = [];
      try {
        for (let i = 0; i < P; i++) {
          const img = await val.image(i * 11, 'eval');
          const f = path.join(dir, `val-${i}.png`);
          await sharp(Buffer.from(img.data), { raw: { width: img.width, height: img.height, channels: 3 } }).png().toFile(f);
          pics.push(f);
        }
      } finally {
        val.close();
      }
      const node = await nodeCaptions(captioner, pics);
      console.log(`  Node: first caption ${fmt(node.firstCaptionMs, 0)} ms, ${fmt(node.captionsPerSec, 2)} captions/s`);

      // The tab: the exported site, then the train page.
      const served = await serve(site);
      const page = await browser.newPage();
      const pageErrors: string[] = [];
      page.on('pageerror', (e) => pageErrors.push(e.message.split('\n')[0]!));
      /** Waits for `expr`, or says what the page shows instead. */
      const until = async (p: typeof page, expr: string, what: string, ms = 600_000) => {
        try {
          await p.waitForFunction(expr, undefined, { timeout: ms, polling: 50 });
        } catch (e) {
          const shown = await p.evaluate(`[...document.querySelectorAll('[data-state]')].map((e) => '#' + e.id + ' ' + e.dataset.state + ': ' + (e.textContent || '').slice(0, 120)).join('; ')`).catch(() => '');
          throw new Error(`${what}: ${(e as Error).message.split('\n')[0]} (page: ${shown}${pageErrors.length ? `; errors: ${pageErrors.join('; ')}` : ''})`);
        }
      };
      let tab: Side;
      try {
        const t0 = performance.now();
        await page.goto(served.url);
        await until(page, `['ready', 'no-webgpu', 'error'].includes(document.getElementById('status').dataset.state)`, 'the site did not start');
        const status = (await page.textContent('#status')) ?? '';
        if ((await page.getAttribute('#status', 'data-state')) !== 'ready') throw new Error(`the site did not start in chromium: ${status}`);
        const caption = async (file: string) => {
          await page.evaluate(`document.getElementById('caption').dataset.state = 'idle'`);
          // Picking the file picked last fires no change: empty the input first.
          await page.setInputFiles('#file', []);
          await page.setInputFiles('#file', file);
          await until(page, `['done', 'error'].includes(document.getElementById('caption').dataset.state)`, `no caption of ${path.basename(file)}`);
          if ((await page.getAttribute('#caption', 'data-state')) !== 'done') throw new Error(`the site could not caption ${file}: ${await page.textContent('#caption')}`);
          return ((await page.evaluate('globalThis.cocaSite.words.length')) as number);
        };
        await caption(pics[0]!);
        const firstCaptionMs = performance.now() - t0;
        const t1 = performance.now();
        let tokens = 0;
        for (const p of pics) tokens += await caption(p);
        const captionsPerSec = (pics.length * 1000) / (performance.now() - t1);
        console.log(`  tab: first caption ${fmt(firstCaptionMs, 0)} ms, ${fmt(captionsPerSec, 2)} captions/s (${status})`);
        await page.close();
        await served.close();

        const trainServed = await serve(trainDir);
        const tp = await browser.newPage();
        try {
          await tp.goto(`${trainServed.url}?steps=${steps}&batch=${batch}&lr=${o.lr}&seed=${o.seed}`);
          await until(tp, '["ready", "error"].includes(globalThis.cocaTrain?.state)', 'the train page did not start');
          await tp.click('#start');
          await until(tp, '["done", "error"].includes(globalThis.cocaTrain.state)', 'the train page did not finish', 1_800_000);
          const st = (await tp.evaluate('globalThis.cocaTrain')) as { state: string; steps: { ms: number; total: number }[] };
          if (st.state !== 'done') throw new Error(`the train page stopped: ${await tp.textContent('#state')}`);
          const ms = st.steps.map((s) => s.ms);
          console.log(`  tab trained ${steps} steps of ${batch}: ${ms.map((m) => fmt(m, 0)).join(' ')} ms`);
          tab = { firstCaptionMs, captionsPerSec, tokens: tokens / pics.length, stepsPerSec: 1000 / median(ms.slice(1)), firstStepMs: ms[0]!, adapter: status };
        } finally {
          await tp.close();
          await trainServed.close();
        }
      } catch (e) {
        await page.close().catch(() => {});
        throw e;
      }
      const a = ctx.gpu.adapter;
      const nodeSide: Side = { ...node, stepsPerSec: 1000 / median(nodeMs.slice(1)), firstStepMs: nodeMs[0]!, adapter: `${a.backend} · ${a.description || a.device}` };

      const sizes = [
        ['coca.js (npm run build:web, minified)', b.modules['coca.js']!, gzipBytes(path.join(dist, 'coca.js'))],
        ['shaders/ (WGSL, fetched once)', b.shaderBytes, fs.readdirSync(path.join(dist, 'shaders')).reduce((n, f) => n + gzipBytes(path.join(dist, 'shaders', f)), 0)],
        ['site.js (coca export web)', exported.bundle, gzipBytes(path.join(site, 'site.js'))],
        [`site, model included (coca export web ${ctx.checkpoint ? path.basename(captioner) : 'of nano'})`, dirBytes(site), 0],
        ['  its model/ (half-precision weights, config, tokenizer)', exported.model, 0],
        ['  the same with --weights f32', exported32.model, 0],
        ['train page, data included (dist/web/train/)', dirBytes(trainDir), 0],
        ['  its data/ (512 pairs of 32×32)', trainSite.data, 0],
      ] as const;
      console.log();
      printTable(['what', 'KiB', 'MiB', 'gzip -9 KiB'], sizes.map(([w, n, g]) => [w, fmt(n / KiB, 1), fmt(n / MiB, 2), g ? fmt(g / KiB, 1) : '–']), 1);
      console.log();
      const ratio = (x: number, y: number) => `×${fmt(x / y, 2)}`;
      printTable(
        ['', 'Node (Dawn)', 'tab (chromium WebGPU)', 'tab / Node'],
        [
          ['adapter', nodeSide.adapter, tab.adapter.replace(/^coca is ready on /, '').replace(/\.$/, ''), ''],
          ['time to first caption, ms', fmt(nodeSide.firstCaptionMs, 0), fmt(tab.firstCaptionMs, 0), ratio(tab.firstCaptionMs, nodeSide.firstCaptionMs)],
          [`captions/s (beam 3 + word maps, ${P} pictures)`, fmt(nodeSide.captionsPerSec, 2), fmt(tab.captionsPerSec, 2), ratio(tab.captionsPerSec, nodeSide.captionsPerSec)],
          ['tokens per caption', fmt(nodeSide.tokens, 1), fmt(tab.tokens, 1), ''],
          [`nano training steps/s (batch ${batch}, median of ${steps - 1})`, fmt(nodeSide.stepsPerSec, 2), fmt(tab.stepsPerSec, 3), ratio(tab.stepsPerSec, nodeSide.stepsPerSec)],
          ['first step (pipelines compile), ms', fmt(nodeSide.firstStepMs, 0), fmt(tab.firstStepMs, 0), ''],
        ],
        1,
      );
      console.log(`  load average (1, 5, 15 min) at the end: ${os.loadavg().map((x) => x.toFixed(2)).join(', ')}`);
      return { failed: 0, report: { sizes: Object.fromEntries(sizes.map(([w, n, g]) => [w.trim(), { bytes: n, gzip: g || null }])), node: nodeSide, tab, pictures: P, steps, batch, loadavg: os.loadavg() } };
    } finally {
      await browser.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
};
