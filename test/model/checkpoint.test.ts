// Checkpoints round-trip exactly, refuse another config's tensors with one line naming the
// tensor, and are written so that a failed write leaves the previous folder whole.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { CocaModel } from '../../src/model/coca.ts';
import { parseConfig } from '../../src/model/config.ts';
import { AdamW } from '../../src/train/adamw.ts';
import { loadCheckpoint, loadParamsInto } from '../../src/model/checkpoint.ts';
import { loadOptimizerInto, saveCheckpoint } from '../../src/train/checkpoint.ts';
import { syntheticBatch, trainStep } from '../../src/train/step.ts';
import { Rng } from '../../src/util/prng.ts';
import { testGpu } from '../helpers/gpu.ts';

let gpu: Gpu;
let dir: string;
beforeAll(async () => {
  gpu = await testGpu();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-ckpt-'));
});
afterAll(() => {
  gpu?.pool.trim();
  fs.rmSync(dir, { recursive: true, force: true });
});

const micro = () => parseConfig(JSON.parse(fs.readFileSync(path.join(import.meta.dirname, '..', 'fixtures', 'parity_micro.json'), 'utf8')));

describe('checkpoints', () => {
  it('round-trip parameters and optimizer state; training resumes on the same losses', async () => {
    const config = micro();
    const a = CocaModel.init(gpu, config, 3);
    const opt = new AdamW(gpu, a.params, { lr: 1e-3, beta1: 0.9, beta2: 0.98, eps: 1e-6, weightDecay: 0.1 });
    const inp = a.prepare(syntheticBatch(a, 3, new Rng(1)));
    await trainStep(a, opt, inp);
    const ck = path.join(dir, 'run');
    await saveCheckpoint(ck, a, { optimizer: opt, state: { step: opt.step } });
    expect(fs.readdirSync(ck).sort()).toEqual(['config.json', 'manifest.json', 'model.safetensors', 'optimizer.safetensors', 'state.json']);
    const b = loadCheckpoint(gpu, ck);
    for (const [name, p] of a.params.params) expect(await b.params.get(name).toArray(), name).toEqual(await p.tensor.toArray());
    const optB = new AdamW(gpu, b.params, opt.hyper);
    loadOptimizerInto(ck, optB);
    expect(optB.step).toBe(1);
    // The next step from the checkpoint equals the next step of the original run. Its loss is
    // computed before its update, so the restored moments show only in the weights the update
    // leaves: those are compared too.
    const la = (await trainStep(a, opt, inp)).total;
    const lb = (await trainStep(b, optB, inp)).total;
    expect(lb).toBe(la);
    for (const [name, p] of a.params.params) expect(await b.params.get(name).toArray(), `${name} after the resumed step`).toEqual(await p.tensor.toArray());
    inp.release();
    for (const o of [opt, optB]) o.release();
    for (const m of [a, b]) m.params.release();
  });

  it('refuses a checkpoint of another config, naming the tensor', async () => {
    const config = micro();
    const a = CocaModel.init(gpu, config, 3);
    const ck = path.join(dir, 'other');
    await saveCheckpoint(ck, a);
    const wider = { ...config, text_cfg: { ...config.text_cfg, vocab_size: 41 }, multimodal_cfg: { ...config.multimodal_cfg, vocab_size: 41 } };
    const b = CocaModel.init(gpu, wider, 3);
    expect(() => loadParamsInto(ck, b)).toThrow(/checkpoint tensor "text\.token_embedding\.weight" is \[37, 24\] but this model's is \[41, 24\]; it was made for another config/);
    const layouts = { ...config, vision_cfg: { ...config.vision_cfg, attentional_pool: true as const } };
    const c = CocaModel.init(gpu, layouts, 3);
    expect(() => loadParamsInto(ck, c)).toThrow(/checkpoint tensor "visual\.attn_pool_contrastive\.[a-z_.]+" has no place in this model/);
    for (const m of [a, b, c]) m.params.release();
  });

  it('leaves the previous checkpoint whole when a write fails part-way', async () => {
    const a = CocaModel.init(gpu, micro(), 3);
    const ck = path.join(dir, 'keep');
    await saveCheckpoint(ck, a);
    const before = fs.readFileSync(path.join(ck, 'model.safetensors'));
    const b = CocaModel.init(gpu, micro(), 4);
    // The disk fills up after the header: the write dies half-way through the new file.
    let calls = 0;
    const spy = vi.spyOn(fs, 'writeSync').mockImplementation((() => {
      if (++calls > 1) throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
      return 8;
    }) as typeof fs.writeSync);
    try {
      await expect(saveCheckpoint(ck, b)).rejects.toThrow(/keep: cannot write the checkpoint \(ENOSPC while writing model\.safetensors\); the previous checkpoint there is untouched/);
    } finally {
      spy.mockRestore();
    }
    expect(fs.readFileSync(path.join(ck, 'model.safetensors'))).toEqual(before);
    expect(fs.readdirSync(dir).filter((f) => f.startsWith('.'))).toEqual([]);
    expect(fs.readdirSync(ck).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    a.params.release();
    b.params.release();
  });
});
