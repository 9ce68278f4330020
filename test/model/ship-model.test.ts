// scripts/ship-model.ts, run as a person runs it, on a micro checkpoint laid out as `coca train`
// lays out a run (runs/<run>/checkpoints/last, run.json and log.jsonl in the run folder): the
// folder it writes holds half-precision weights, the provenance, a caption that loading the folder
// reproduces, and a manifest of every file, and never the optimiser state; a weight that a half
// cannot hold, or a missing log, is refused in one line with the previous folder left whole.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultPreprocess, trainTokenizer } from '../../src/data/index.ts';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { greedyCaption, type ExpectedCaption } from '../../src/infer/expected-caption.ts';
import { openCheckpoint } from '../../src/infer/load.ts';
import type { ShipInfo } from '../../src/model/builtin.ts';
import { readManifest, verifyCheckpoint } from '../../src/model/checkpoint-folder.ts';
import { CocaModel } from '../../src/model/coca.ts';
import { parseConfig, withPreprocess } from '../../src/model/config.ts';
import { readSafetensors } from '../../src/model/safetensors.ts';
import { AdamW } from '../../src/train/adamw.ts';
import { saveCheckpoint } from '../../src/train/checkpoint.ts';
import { syntheticBatch, trainStep } from '../../src/train/step.ts';
import { Rng } from '../../src/util/prng.ts';
import { testGpu } from '../helpers/gpu.ts';
import { CAPTIONS, makePictures } from '../infer/fixture.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
let gpu: Gpu;
let tmp: string;
let picture: string;

/** A run folder: a micro model trained 3 steps, saved with its optimiser and state at step 3 (`huge`: one weight set to it first). */
async function makeRun(name: string, huge?: number): Promise<string> {
  const run = path.join(tmp, name);
  const tok = trainTokenizer(CAPTIONS, 300);
  const raw = JSON.parse(fs.readFileSync(path.join(ROOT, 'test', 'fixtures', 'parity_micro.json'), 'utf8'));
  raw.vision_cfg = { ...raw.vision_cfg, width: 24 };
  raw.text_cfg = { ...raw.text_cfg, vocab_size: tok.vocabSize, context_length: 12 };
  raw.multimodal_cfg = { ...raw.multimodal_cfg, vocab_size: tok.vocabSize, context_length: 12 };
  const config = parseConfig(raw);
  const model = CocaModel.init(gpu, withPreprocess(config, defaultPreprocess(config.vision_cfg.image_size)), 5);
  const opt = new AdamW(gpu, model.params, { lr: 1e-3 });
  const inp = model.prepare(syntheticBatch(model, 4, new Rng(5)));
  try {
    for (let i = 0; i < 3; i++) await trainStep(model, opt, inp);
    if (huge !== undefined) {
      const state = await model.params.state();
      state.get('text_decoder.ln_final.weight')!.data[2] = huge;
      model.params.load(state);
    }
    await saveCheckpoint(path.join(run, 'checkpoints', 'last'), model, { tokenizerJson: JSON.stringify(tok.json), optimizer: opt, state: { step: 3 } });
  } finally {
    inp.release();
    opt.release();
    model.params.release();
  }
  fs.writeFileSync(path.join(run, 'run.json'), JSON.stringify({ configName: 'micro', data: 'builtin-small', steps: 10, batch: 4, lr: 0.001, seed: 5, out: 'runs/micro' }));
  fs.writeFileSync(path.join(run, 'log.jsonl'), [1, 2, 3, 4, 5].map((step) => JSON.stringify({ step, total: 10 - step })).join('\n') + '\n');
  return run;
}

function ship(args: string[]): { status: number | null; stdout: string; errLines: string[] } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'scripts', 'ship-model.ts'), ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, XDG_RUNTIME_DIR: process.env['XDG_RUNTIME_DIR'] ?? os.tmpdir() } });
  return { status: r.status, stdout: r.stdout, errLines: r.stderr.split('\n').filter((l) => l.trim() !== '' && !/artificially reduced/.test(l)) };
}

beforeAll(async () => {
  gpu = await testGpu();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-ship-'));
  picture = (await makePictures(path.join(tmp, 'pics'))).red;
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('scripts/ship-model.ts', () => {
  it('writes f16 weights, provenance up to the shipped step, a reproducible caption and a manifest of every file; no optimiser', async () => {
    const run = await makeRun('run');
    // A copy of a checkpoint without its optimiser state (listed in its manifest) ships: that file never is.
    fs.rmSync(path.join(run, 'checkpoints', 'last', 'optimizer.safetensors'));
    const out = path.join(tmp, 'shipped');
    const r = ship([path.join(run, 'checkpoints', 'last'), '--out', out, '--picture', picture]);
    expect(r.errLines).toEqual([]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^shipped .* → .*shipped \(\d+\.\d\d MiB\)$/m);
    expect(fs.readdirSync(out).sort()).toEqual(['README.md', 'config.json', 'expected-caption.json', 'log.jsonl', 'manifest.json', 'model.safetensors', 'run.json', 'ship.json', 'tokenizer.json']);
    const m = readManifest(out)!;
    expect(m.step).toBe(3);
    expect(m.files.map((e) => e.file).sort()).toEqual(fs.readdirSync(out).filter((f) => f !== 'manifest.json').sort());
    expect(verifyCheckpoint(out)).toEqual(m);

    const src = readSafetensors(path.join(run, 'checkpoints', 'last', 'model.safetensors'));
    const st = readSafetensors(path.join(out, 'model.safetensors'));
    expect([...st.tensors.keys()].sort()).toEqual([...src.tensors.keys()].sort());
    for (const [name, t] of st.tensors) expect(t.dtype, name).toBe(name === 'logit_scale' ? 'F32' : 'F16');
    expect(st.tensors.get('logit_scale')!.data).toEqual(src.tensors.get('logit_scale')!.data);

    // The log stops at the shipped step; the run's options come along as they were.
    expect(fs.readFileSync(path.join(out, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).step)).toEqual([1, 2, 3]);
    expect(JSON.parse(fs.readFileSync(path.join(out, 'run.json'), 'utf8')).out).toBe('runs/micro');
    const info = JSON.parse(fs.readFileSync(path.join(out, 'ship.json'), 'utf8')) as ShipInfo;
    expect(info).toMatchObject({ preset: 'micro', step: 3, runSteps: 10, interim: true, batch: 4, data: 'builtin-small', languages: [] });
    const readme = fs.readFileSync(path.join(out, 'README.md'), 'utf8');
    expect(readme).toContain('An interim checkpoint, not the finished model');
    expect(readme).toContain('step 3 of a 10-step run');
    expect(readme).toContain('coca train --preset micro --data builtin-small --steps 10 --batch 4 --lr 0.001 --seed 5 --out runs/micro');

    const expected = JSON.parse(fs.readFileSync(path.join(out, 'expected-caption.json'), 'utf8')) as ExpectedCaption;
    expect(typeof expected.sameAsFloat32Source).toBe('boolean');
    const ck = openCheckpoint(gpu, out);
    try {
      const again = await greedyCaption(ck, picture);
      expect(again.tokens).toEqual(expected.tokens);
      expect(expected.text).toBe(ck.tokenizer.decode(expected.tokens));
    } finally {
      ck.release();
    }
  });

  it('refuses a weight beyond the largest half in one line, leaving the shipped folder as it was', async () => {
    const good = await makeRun('good');
    const out = path.join(tmp, 'kept');
    expect(ship([path.join(good, 'checkpoints', 'last'), '--out', out, '--picture', picture]).status).toBe(0);
    const before = fs.readFileSync(path.join(out, 'manifest.json'), 'utf8');
    const bad = await makeRun('bad', 1e5);
    const r = ship([path.join(bad, 'checkpoints', 'last'), '--out', out, '--picture', picture]);
    expect(r.status).toBe(1);
    expect(r.errLines).toHaveLength(1);
    expect(r.errLines[0]).toMatch(/^ship-model: .*model\.safetensors: tensor "text_decoder\.ln_final\.weight" element 2 is 100000, outside half precision's range \(±65504\)/);
    expect(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8')).toBe(before);
    expect(fs.readdirSync(tmp).filter((f) => f.startsWith('.kept'))).toEqual([]);
  });

  it('refuses a checkpoint whose weights are not the ones its manifest names', async () => {
    const run = await makeRun('flipped');
    const file = path.join(run, 'checkpoints', 'last', 'model.safetensors');
    const bytes = fs.readFileSync(file);
    bytes[bytes.length - 7] ^= 0x10;
    fs.writeFileSync(file, bytes);
    const r = ship([path.join(run, 'checkpoints', 'last'), '--out', path.join(tmp, 'flipped-out'), '--picture', picture]);
    expect(r.status).toBe(1);
    expect(r.errLines).toEqual([expect.stringMatching(/^ship-model: .*flipped\/checkpoints\/last\/model\.safetensors does not match .*manifest\.json \(size or sha256\); the checkpoint is mixed or damaged/)]);
    expect(fs.existsSync(path.join(tmp, 'flipped-out'))).toBe(false);
  });

  it('refuses a run without its training log, naming the option to give it', async () => {
    const run = await makeRun('nolog');
    fs.rmSync(path.join(run, 'log.jsonl'));
    const r = ship([path.join(run, 'checkpoints', 'last'), '--out', path.join(tmp, 'nolog-out'), '--picture', picture]);
    expect(r.status).toBe(1);
    expect(r.errLines).toEqual([expect.stringMatching(/^ship-model: no training log at .*nolog\/log\.jsonl; pass the run's log\.jsonl with --log FILE$/)]);
    expect(fs.existsSync(path.join(tmp, 'nolog-out'))).toBe(false);
  });
});
