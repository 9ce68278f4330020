// coca train --init: a new run starts from a checkpoint's weights, tokenizer and preprocessing
// (an imported open_clip model is one such checkpoint), not from its optimizer or step. Micro
// config on the built-in small set, a few steps each.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { loadConfig } from '../../src/model/config.ts';
import { readSafetensors } from '../../src/model/safetensors.ts';
import { train, type TrainOptions } from '../../src/train/trainer.ts';
import { testGpu } from '../helpers/gpu.ts';
import { microTrainOptions } from '../helpers/train.ts';

let gpu: Gpu;
let dir: string;
beforeAll(async () => {
  gpu = await testGpu();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-init-'));
});
afterAll(() => {
  gpu?.pool.trim();
  fs.rmSync(dir, { recursive: true, force: true });
});

const options = (out: string, over: Partial<TrainOptions> = {}): TrainOptions => microTrainOptions(path.join(dir, out), { steps: 4, batch: 8, warmup: 1, keep: 1, ...over });

const params = (ck: string) => readSafetensors(path.join(ck, 'model.safetensors')).tensors;
const maxDiff = (a: Map<string, { data: unknown }>, b: Map<string, { data: unknown }>) => {
  let m = 0;
  for (const [k, t] of a) {
    const x = t.data as Float32Array;
    const y = b.get(k)!.data as Float32Array;
    for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]! - y[i]!));
  }
  return m;
};

describe('coca train --init', () => {
  it("starts from the checkpoint's weights and keeps its tokenizer and preprocessing, a fresh optimizer and step 0", async () => {
    await train(gpu, options('a'), () => {});
    const a = path.join(dir, 'a', 'checkpoints', 'last');
    // A seed of its own: only the loaded weights can make b start where a ended.
    const lines: string[] = [];
    const r = await train(gpu, options('b', { init: a, config: loadConfig(path.join(a, 'config.json')), configName: path.join(a, 'config.json'), steps: 1, lr: 1e-9, seed: 9 }), (l) => lines.push(l));
    expect(r.steps).toBe(1);
    const b = path.join(dir, 'b', 'checkpoints', 'last');
    // One step of lr 1e-9 moves no weight by more than about 1e-9; a fresh initialisation differs by far more.
    expect(maxDiff(params(a), params(b))).toBeLessThan(1e-6);
    const fresh = await train(gpu, options('c', { steps: 1, lr: 1e-9, seed: 9 }), () => {});
    expect(fresh.steps).toBe(1);
    expect(maxDiff(params(a), params(path.join(dir, 'c', 'checkpoints', 'last')))).toBeGreaterThan(1e-3);
    expect(fs.readFileSync(path.join(b, 'tokenizer.json'), 'utf8')).toBe(fs.readFileSync(path.join(a, 'tokenizer.json'), 'utf8'));
    expect(JSON.parse(fs.readFileSync(path.join(b, 'config.json'), 'utf8'))).toEqual(JSON.parse(fs.readFileSync(path.join(a, 'config.json'), 'utf8')));
    expect(lines.join('\n')).toMatch(new RegExp(`starting from the weights of ${a.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'b', 'run.json'), 'utf8')).init).toBe(a);
  });

  it('--lock-image leaves every visual.* parameter bit for bit as loaded and trains the rest, through accumulated steps too', async () => {
    const a = path.join(dir, 'a', 'checkpoints', 'last');
    const from = { init: a, config: loadConfig(path.join(a, 'config.json')), configName: path.join(a, 'config.json'), steps: 2, lr: 1e-2, seed: 9 };
    const lines: string[] = [];
    await train(gpu, options('locked', { ...from, lockImage: true, gradAccum: 2 }), (l) => lines.push(l));
    const before = params(a);
    const after = params(path.join(dir, 'locked', 'checkpoints', 'last'));
    const moved = (k: string) => {
      const x = before.get(k)!.data as Float32Array;
      const y = after.get(k)!.data as Float32Array;
      return x.some((v, i) => v !== y[i]);
    };
    const names = [...before.keys()];
    const visual = names.filter((k) => k.startsWith('visual.'));
    expect(visual.length).toBeGreaterThan(5);
    expect(visual.filter(moved)).toEqual([]);
    // Weight decay alone would move every decayed text weight, so count only what trains: the
    // token embedding and the text projection take gradients from both losses.
    for (const k of ['text.token_embedding.weight', 'text.text_projection', 'logit_scale']) expect(moved(k), k).toBe(true);
    expect(lines.join('\n')).toMatch(/image tower locked: [\d,]+ parameters \(visual\.\*\)/);
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'locked', 'run.json'), 'utf8')).lockImage).toBe(true);
    // The same run unlocked moves the image tower: the lock, not the small lr, kept it.
    await train(gpu, options('unlocked', { ...from, gradAccum: 2 }), () => {});
    const free = params(path.join(dir, 'unlocked', 'checkpoints', 'last'));
    expect(visual.filter((k) => (free.get(k)!.data as Float32Array).some((v, i) => v !== (before.get(k)!.data as Float32Array)[i])).length).toBe(visual.length);
  });

  it('refuses a checkpoint without a tokenizer in one line', async () => {
    const bare = path.join(dir, 'bare');
    fs.mkdirSync(bare);
    const a = path.join(dir, 'a', 'checkpoints', 'last');
    for (const f of ['model.safetensors', 'config.json']) fs.copyFileSync(path.join(a, f), path.join(bare, f));
    await expect(train(gpu, options('d', { init: bare, config: loadConfig(path.join(bare, 'config.json')), configName: path.join(bare, 'config.json') }), () => {})).rejects.toThrow(/--init .*bare has no tokenizer\.json/);
    expect(fs.existsSync(path.join(dir, 'd'))).toBe(false);
  });
});
