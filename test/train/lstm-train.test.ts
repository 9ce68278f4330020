// The LSTM captioners' nano presets learn on the built-in data: one batch of 8 pairs overfitted
// (the loss falls by more than half; greedy captions are not empty and are made of the batch's
// tokens), and a short run through `coca train --arch`'s trainer leaves a checkpoint that records
// its arch, opens, and captions by beam search.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatchLoader, defaultPreprocess, loadDataset, loadTokenizer, measuredStats, type Batch } from '../../src/data/index.ts';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { captionWithLstm } from '../../src/infer/lstm-caption.ts';
import { checkpointArch } from '../../src/model/arch.ts';
import { openCaptioner } from '../../src/model/captioners/checkpoint.ts';
import { loadLstmConfig, withLstmVocab } from '../../src/model/captioners/config.ts';
import { LstmCaptioner } from '../../src/model/captioners/lstm.ts';
import { readCheckpointConfig } from '../../src/model/checkpoint.ts';
import { AdamW } from '../../src/train/adamw.ts';
import { captionerTrainStep } from '../../src/train/captioner-step.ts';
import { trainCaptioner } from '../../src/train/captioner-trainer.ts';
import { Rng } from '../../src/util/prng.ts';
import { testGpu } from '../helpers/gpu.ts';

let gpu: Gpu;
let batch: Batch;
const tokenizer = loadTokenizer('builtin-small');
beforeAll(async () => {
  gpu = await testGpu();
  const ds = await loadDataset('builtin-small', { split: 'train', imageSize: 32 });
  const loader = new BatchLoader(ds, { batchSize: 8, contextLength: 32, tokenizer, preprocess: defaultPreprocess(32, measuredStats('builtin-small')), strict: false, train: false, seed: 1 });
  batch = await loader.next();
  await loader.close();
});
afterAll(() => gpu?.pool.trim());

describe.each([
  ['showtell', 30],
  ['sat', 20],
] as const)('%s nano', (arch, steps) => {
  it(`overfits 8 built-in pairs in ${steps} steps: the loss falls, greedy captions are the batch's tokens`, async () => {
    const model = LstmCaptioner.init(gpu, withLstmVocab(loadLstmConfig(arch, 'nano'), tokenizer.vocabSize), 1);
    const opt = new AdamW(gpu, model.params, { lr: 1e-2, weightDecay: 0 });
    const rng = new Rng(1);
    const losses: number[] = [];
    try {
      for (let s = 0; s < steps; s++) {
        const r = await captionerTrainStep(model, opt, { images: batch.images, text: batch.tokens, batch: batch.rows }, { clip: 1, rng });
        expect(r.nonFinite).toBeNull();
        if (arch === 'sat') expect(r.regulariser).toBeGreaterThan(0);
        else expect(r.regulariser).toBe(0);
        losses.push(r.caption);
      }
      const end = losses.slice(-3).reduce((a, b) => a + b, 0) / 3;
      expect(losses[0]).toBeGreaterThan(6); // ln(1024): an untrained model's
      expect(end).toBeLessThan(0.5 * losses[0]!);
      // Overfitted, the model speaks the batch's tokens (a few dozen of 1024), whatever it makes of them.
      const seen = new Set(batch.tokens);
      const caps = await captionWithLstm(model, batch.images, batch.rows, { beams: 1, maxLen: 16 });
      for (const c of caps) {
        const text = tokenizer.decode(c.tokens);
        expect(c.tokens.length, `"${text}" has a word`).toBeGreaterThan(2);
        expect(c.tokens[1], `"${text}" has a word`).not.toBe(tokenizer.eosId);
        for (const t of c.tokens) expect(seen.has(t), `token ${t} of "${text}"`).toBe(true);
      }
    } finally {
      opt.release();
      model.params.release();
    }
  });
});

it('coca train --arch showtell: a run folder recording its arch, a checkpoint that opens and captions', async () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-lstm-run-'));
  fs.rmSync(out, { recursive: true });
  try {
    const r = await trainCaptioner(gpu, { config: loadLstmConfig('showtell', 'nano'), configName: 'nano', data: 'builtin-small', out, steps: 3, batch: 8, lr: 3e-3, warmup: 1, weightDecay: 0.1, beta1: 0.9, beta2: 0.98, eps: 1e-6, clip: 1, seed: 2, valEvery: 3, keep: 1, progress: false, valBatches: 1 }, () => {});
    expect(r.validation?.items).toBe(8);
    expect(JSON.parse(fs.readFileSync(path.join(out, 'run.json'), 'utf8')).arch).toBe('showtell');
    expect(fs.readFileSync(path.join(out, 'log.jsonl'), 'utf8').trim().split('\n')).toHaveLength(3);
    const last = path.join(out, 'checkpoints', 'last');
    expect(checkpointArch(last)).toBe('showtell');
    expect(() => readCheckpointConfig(last)).toThrow('holds a showtell model; this command works on coca models');
    const ck = openCaptioner(gpu, last);
    try {
      expect(ck.model.config.decoder_cfg.vocab_size).toBe(tokenizer.vocabSize);
      expect(ck.pre).toEqual(defaultPreprocess(32, measuredStats('builtin-small')));
      const caps = await captionWithLstm(ck.model, batch.images.subarray(0, 2 * 3 * 32 * 32), 2, { beams: 2, maxLen: 6 });
      expect(caps).toHaveLength(2);
      for (const c of caps) {
        expect(c.tokens[0]).toBe(tokenizer.bosId);
        expect(c.tokens.length).toBeLessThanOrEqual(6);
      }
    } finally {
      ck.release();
    }
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});
