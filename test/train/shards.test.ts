// coca train streaming WebDataset shards (made here from the first 100 pairs of the built-in small
// set, 4 shards of 25, a shuffle buffer of 30): a run stopped mid-buffer and resumed from its
// checkpoint logs exactly the losses of an uninterrupted one, and its data position is in state.json.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDataset, resolveDataPath } from '../../src/data/load.ts';
import { readSource } from '../../src/data/prep.ts';
import { defaultPreprocess } from '../../src/data/preprocess.ts';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { train, type StepLog, type TrainOptions } from '../../src/train/trainer.ts';
import { testGpu } from '../helpers/gpu.ts';
import { microTrainOptions } from '../helpers/train.ts';

let gpu: Gpu;
let dir: string;
let shards: string;
beforeAll(async () => {
  gpu = await testGpu();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-train-shards-'));
  shards = path.join(dir, 'shards');
  fs.mkdirSync(shards);
  const ds = await loadDataset('builtin-small', { split: 'train' });
  for (let s = 0; s < 4; s++) {
    const pack = tar.pack();
    for (let i = s * 25; i < (s + 1) * 25; i++) {
      const src = ds.source!(i);
      const img = await readSource(src, false, defaultPreprocess(32));
      const png = await sharp(Buffer.from(img.data), { raw: { width: img.width, height: img.height, channels: 3 } }).png().toBuffer();
      pack.entry({ name: `${i}.png` }, png);
      pack.entry({ name: `${i}.txt` }, Buffer.from(ds.captions(i).join('\n')));
    }
    pack.finalize();
    const chunks: Buffer[] = [];
    for await (const c of pack) chunks.push(c as Buffer);
    fs.writeFileSync(path.join(shards, `${s}.tar`), Buffer.concat(chunks));
  }
  fs.copyFileSync(path.join(resolveDataPath('builtin-small'), 'tokenizer.json'), path.join(shards, 'tokenizer.json'));
});
afterAll(() => {
  gpu?.pool.trim();
  fs.rmSync(dir, { recursive: true, force: true });
});

const options = (out: string, over: Partial<TrainOptions> = {}): TrainOptions =>
  microTrainOptions(path.join(dir, out), { data: path.join(shards, '{0..3}.tar'), steps: 8, shuffleBuffer: 30, ...over });

const readLog = (run: string): StepLog[] => fs.readFileSync(path.join(dir, run, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as StepLog);

describe('coca train on shards', () => {
  it('a run stopped inside a shuffle buffer and resumed logs exactly the losses of an uninterrupted one', async () => {
    const lines: string[] = [];
    await train(gpu, options('straight'), (l) => lines.push(l));
    expect(lines.join('\n')).toMatch(/4 shards streamed \(shuffle buffer 30\)/);
    await train(gpu, options('resumed', { stopAfter: 3 }), () => {});
    const state = JSON.parse(fs.readFileSync(path.join(dir, 'resumed', 'checkpoints', 'last', 'state.json'), 'utf8')) as { loader: { stream: { shard: number; taken: number } } };
    // 48 pairs handed out: the second buffer (pairs 30..59, from shard 1), 18 of it taken.
    expect(state.loader.stream).toMatchObject({ shards: 4, shard: 1, sample: 5, taken: 18 });
    await train(gpu, options('resumed', { resume: path.join(dir, 'resumed') }), () => {});
    const a = readLog('straight');
    const b = readLog('resumed');
    expect(b.map((r) => r.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    for (const k of ['total', 'contrastive', 'caption', 'gradNorm'] as const) expect(b.map((r) => r[k]), k).toEqual(a.map((r) => r[k]));
  });

  it('--grad-accum takes K batches a step and the summary prints the effective batch', async () => {
    const lines: string[] = [];
    await train(gpu, options('accum', { steps: 2, gradAccum: 3 }), (l) => lines.push(l));
    expect(lines.join('\n')).toContain('batch 16 × 3 accumulated = effective batch 48');
    const log = readLog('accum');
    expect(log.map((r) => r.step)).toEqual([1, 2]);
    const state = JSON.parse(fs.readFileSync(path.join(dir, 'accum', 'checkpoints', 'last', 'state.json'), 'utf8')) as { loader: { index: number } };
    // 2 steps × 3 batches × 16 pairs, within the first epoch of 100.
    expect(state.loader.index).toBe(96);
  });
});
