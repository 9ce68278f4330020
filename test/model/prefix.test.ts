// The prefix captioner's nano preset over a frozen (untrained) nano CoCa tower: it overfits 8
// built-in pairs while the tower stays bit for bit as it was (no gradient, no optimizer state),
// and its KV-cached decode gives the logits of the teacher-forced forward, prefix pass and steps.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatchLoader, loadDataset, loadTokenizer, type Batch } from '../../src/data/index.ts';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { captionWithLstm } from '../../src/infer/lstm-caption.ts';
import { readFrozenEncoder, type FrozenEncoder } from '../../src/model/captioners/prefix-checkpoint.ts';
import { loadPrefixConfig, prefixPreprocess, type PrefixConfig } from '../../src/model/captioners/prefix-config.ts';
import { PrefixCaptioner } from '../../src/model/captioners/prefix.ts';
import { noGrad } from '../../src/tensor/tape.ts';
import { tidy } from '../../src/tensor/tensor.ts';
import { AdamW } from '../../src/train/adamw.ts';
import { captionerTrainStep } from '../../src/train/captioner-step.ts';
import { compareClose, describeReport } from '../../src/util/allclose.ts';
import { Rng } from '../../src/util/prng.ts';
import { testGpu } from '../helpers/gpu.ts';
import { writeCocaCheckpoint } from '../helpers/prefix.ts';

let gpu: Gpu;
let batch: Batch;
let enc: FrozenEncoder;
let config: PrefixConfig;
const tokenizer = loadTokenizer('builtin-small');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-prefix-'));

beforeAll(async () => {
  gpu = await testGpu();
  await writeCocaCheckpoint(gpu, path.join(tmp, 'coca'));
  enc = readFrozenEncoder(path.join(tmp, 'coca'));
  const base = loadPrefixConfig('nano');
  config = { ...base, decoder_cfg: { ...base.decoder_cfg, vocab_size: tokenizer.vocabSize }, encoder: enc.record };
  const ds = await loadDataset('builtin-small', { split: 'train', imageSize: 32 });
  const loader = new BatchLoader(ds, { batchSize: 8, contextLength: 32, tokenizer, preprocess: prefixPreprocess(config)!, strict: false, train: false, seed: 1 });
  batch = await loader.next();
  await loader.close();
});
afterAll(() => {
  gpu?.pool.trim();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);

describe('prefix nano', () => {
  it('overfits 8 built-in pairs in 30 steps; the frozen tower is bitwise unchanged, has no gradient and no optimizer state', async () => {
    const model = PrefixCaptioner.init(gpu, config, 1, enc.tower);
    const opt = new AdamW(gpu, model.params, { lr: 1e-2, weightDecay: 0 });
    const losses: number[] = [];
    try {
      const before = await model.params.state();
      const towerNames = [...before.keys()].filter((n) => n.startsWith('visual.'));
      expect(towerNames.length).toBe(enc.tower.size);
      for (const n of towerNames) expect(bits(before.get(n)!.data), n).toEqual(bits(enc.tower.get(n)!.data));
      for (let s = 0; s < 30; s++) {
        const r = await captionerTrainStep(model, opt, { images: batch.images, text: batch.tokens, batch: batch.rows }, { clip: 1, rng: new Rng(s) });
        expect(r.nonFinite).toBeNull();
        expect(r.regulariser).toBe(0);
        losses.push(r.caption);
        if (s === 0) {
          for (const [n, p] of model.params.params) {
            if (n.startsWith('visual.')) expect(p.tensor.grad, `${n} is frozen`).toBeNull();
            else expect(p.tensor.grad, `gradient of ${n}`).not.toBeNull();
          }
        }
      }
      const end = losses.slice(-3).reduce((a, b) => a + b, 0) / 3;
      expect(losses[0]).toBeGreaterThan(6); // about ln(vocabulary): an untrained model's
      expect(end).toBeLessThan(0.5 * losses[0]!);
      const after = await model.params.state();
      for (const n of towerNames) expect(bits(after.get(n)!.data), `${n} moved`).toEqual(bits(before.get(n)!.data));
      for (const n of ['mapping.c_fc.weight', 'lm.head.weight', 'lm.transformer.resblocks.1.attn.in_proj_weight']) expect(bits(after.get(n)!.data), `${n} trained`).not.toEqual(bits(before.get(n)!.data));
      const moments = [...(await opt.state()).keys()];
      expect(moments.filter((n) => n.startsWith('visual.'))).toEqual([]);
      expect(moments.length).toBe(before.size - towerNames.length);
      // Overfitted, the model speaks the batch's tokens (a few dozen of the vocabulary).
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

  it('the cached decode (prefix in one pass, then one token a step) gives the teacher-forced logits', async () => {
    const model = PrefixCaptioner.init(gpu, config, 7, enc.tower);
    const B = 3;
    const L = batch.tokens.length / batch.rows;
    const images = batch.images.subarray(0, B * 3 * 32 * 32);
    const text = batch.tokens.subarray(0, B * L);
    try {
      const forward = noGrad(() =>
        tidy(() => {
          const terms = model.forwardLoss({ images, text, batch: B }, { training: false });
          terms.release();
          return { logits: terms.logits, steps: terms.steps };
        }),
      );
      const T = forward.steps;
      const want = await forward.logits.toArray();
      forward.logits.release();
      const V = config.decoder_cfg.vocab_size;
      expect(want.length).toBe(B * T * V);
      const dec = model.beginDecode(images, B, 1);
      try {
        for (let t = 0; t < T; t++) {
          const got = await dec.step(Int32Array.from({ length: B }, (_, b) => text[b * L + t]!));
          expect(dec.length).toBe(t + 1);
          for (let b = 0; b < B; b++) {
            const r = compareClose(got.subarray(b * V, (b + 1) * V), want.subarray((b * T + t) * V, (b * T + t + 1) * V), { atol: 1e-4, rtol: 1e-4 });
            expect(r.ok, `row ${b}, position ${t}: ${describeReport(r)}`).toBe(true);
          }
        }
      } finally {
        dec.release();
      }
    } finally {
      model.params.release();
    }
  });
});
