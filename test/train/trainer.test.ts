// coca train end to end on the built-in small set (set-up builds it), with the micro config so
// each run takes seconds: the loss falls, a stopped and resumed run logs exactly the losses of an
// uninterrupted one, non-finite values stop training (or are skipped), bad set-ups are refused.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { BatchLoader } from '../../src/data/loader.ts';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { loadCheckpoint } from '../../src/model/checkpoint.ts';
import { train, type StepLog, type TrainOptions } from '../../src/train/trainer.ts';
import { testGpu } from '../helpers/gpu.ts';
import { microConfig, microTrainOptions } from '../helpers/train.ts';

let gpu: Gpu;
let dir: string;
beforeAll(async () => {
  gpu = await testGpu();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-train-'));
});
afterAll(() => {
  gpu?.pool.trim();
  fs.rmSync(dir, { recursive: true, force: true });
});

const options = (out: string, over: Partial<TrainOptions> = {}): TrainOptions => microTrainOptions(path.join(dir, out), over);

const quiet = () => {};
const readLog = (run: string): StepLog[] => fs.readFileSync(path.join(dir, run, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as StepLog);

describe('coca train', () => {
  it('the loss falls over a short run; report, logs and checkpoints are written', async () => {
    const r = await train(gpu, options('falls', { steps: 40, valEvery: 20 }), quiet);
    expect(r.steps).toBe(40);
    const log = readLog('falls');
    const mean = (xs: StepLog[]) => xs.reduce((s, x) => s + x.total, 0) / xs.length;
    expect(mean(log.slice(-5))).toBeLessThan(mean(log.slice(0, 5)) - 0.5);
    for (const f of ['report.html', 'run.json', 'val.jsonl', 'checkpoints/last/model.safetensors', 'checkpoints/best/tokenizer.json', 'checkpoints/step-000040/state.json']) {
      expect(fs.existsSync(path.join(dir, 'falls', f)), f).toBe(true);
    }
    expect(fs.readFileSync(path.join(dir, 'falls', 'report.html'), 'utf8')).toContain('<svg');
    expect(r.validation!.items).toBeGreaterThan(100);
    const m = loadCheckpoint(gpu, path.join(dir, 'falls', 'checkpoints', 'last'));
    expect(m.config.text_cfg.vocab_size).toBe(1024); // the tokenizer's, not the micro config's 37
    m.params.release();
  });

  it('a run stopped and resumed logs exactly the losses of an uninterrupted one', async () => {
    await train(gpu, options('straight'), quiet);
    const first = await train(gpu, options('resumed', { stopAfter: 3 }), quiet);
    expect(first.steps).toBe(3);
    await train(gpu, options('resumed', { resume: path.join(dir, 'resumed') }), quiet);
    const a = readLog('straight');
    const b = readLog('resumed');
    expect(b.map((r) => r.step)).toEqual([1, 2, 3, 4, 5, 6]);
    for (const k of ['total', 'contrastive', 'caption', 'gradNorm', 'lr'] as const) expect(b.map((r) => r[k]), k).toEqual(a.map((r) => r[k]));
  });

  it('a poisoned batch stops training with one line naming the step; the checkpoints before it stay', async () => {
    const real = BatchLoader.prototype.next;
    let calls = 0;
    const spy = vi.spyOn(BatchLoader.prototype, 'next').mockImplementation(async function (this: BatchLoader) {
      const b = await real.call(this);
      if (this.dataset.split === 'train' && ++calls === 4) b.images.fill(NaN);
      return b;
    });
    try {
      await expect(train(gpu, options('nan', { valEvery: 2 }), quiet)).rejects.toThrow(/^step 4: the loss \(caption\) is NaN; training stopped, the last good checkpoint is in .*checkpoints/);
      expect(fs.existsSync(path.join(dir, 'nan', 'checkpoints', 'step-000002', 'model.safetensors'))).toBe(true);
      calls = 0;
      const r = await train(gpu, options('nan-skip', { onNonFinite: 'skip' }), quiet);
      expect(r.steps).toBe(6);
      expect(readLog('nan-skip').map((x) => x.step)).toEqual([1, 2, 3, 5, 6]);
    } finally {
      spy.mockRestore();
    }
  });

  it('refuses a dataset smaller than one batch and an output folder of another run', async () => {
    await expect(train(gpu, options('big', { batch: 100_000 }), quiet)).rejects.toThrow(/has \d+ items, fewer than one batch of 100000; use --batch/);
    const other = microConfig();
    other.embed_dim = 24;
    await expect(train(gpu, options('straight', { config: { ...other, vision_cfg: { ...other.vision_cfg, layers: 2 } } }), quiet)).rejects.toThrow(/holds a run of another config; pick another --out, or --resume/);
  });
});
