// --resume of a showtell or sat run continues bit for bit: N steps straight and K steps, a stop,
// then a resume to N log the same losses, gradient norms and validations, and end on the same
// weights, batch norm statistics and AdamW moments, byte for byte. The stopped run's log also
// holds a line past its checkpoint (what a kill leaves), which the resume drops.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { loadLstmConfig } from '../../src/model/captioners/config.ts';
import { readSafetensors } from '../../src/model/safetensors.ts';
import { trainCaptioner, type CaptionerTrainOptions } from '../../src/train/captioner-trainer.ts';
import { testGpu } from '../helpers/gpu.ts';

let gpu: Gpu;
let dir: string;
beforeAll(async () => {
  gpu = await testGpu();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-lstm-resume-'));
});
afterAll(() => {
  gpu?.pool.trim();
  fs.rmSync(dir, { recursive: true, force: true });
});

const N = 5;
const quiet = () => {};
const lines = (run: string, file: string) => fs.readFileSync(path.join(run, file), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>);
/** Every tensor of a safetensors file as its bytes. */
const tensors = (file: string) => new Map([...readSafetensors(file).tensors].map(([k, t]) => [k, Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength)]));

describe.each(['showtell', 'sat'] as const)('--arch %s', (arch) => {
  it(`${N} steps straight equal 2 steps, a stop and a resume to ${N}: losses, validations, weights and AdamW state, bit for bit`, async () => {
    const options = (out: string, over: Partial<CaptionerTrainOptions> = {}): CaptionerTrainOptions => ({
      config: loadLstmConfig(arch, 'nano'), configName: 'nano', data: 'builtin-small', out: path.join(dir, `${arch}-${out}`),
      steps: N, batch: 6, lr: 3e-3, warmup: 2, weightDecay: 0.1, beta1: 0.9, beta2: 0.98, eps: 1e-6, clip: 0.5, seed: 4, valEvery: 3, keep: 2, progress: false, valBatches: 1, ...over,
    });
    const straight = options('straight').out;
    const resumed = options('resumed').out;
    await trainCaptioner(gpu, options('straight'), quiet);
    const first = await trainCaptioner(gpu, options('resumed', { stopAfter: 2 }), quiet);
    expect(first.steps).toBe(2);
    expect(fs.existsSync(path.join(resumed, 'val.jsonl'))).toBe(false);
    // A kill after logging step 3 but before any checkpoint of it: the resume starts at 2 and drops the line.
    fs.appendFileSync(path.join(resumed, 'log.jsonl'), JSON.stringify({ step: 3, caption: -1, regulariser: -1, total: -1, lr: 0, gradNorm: 0 }) + '\n');
    const r = await trainCaptioner(gpu, options('resumed', { resume: resumed }), quiet);
    expect(r.steps).toBe(N);

    const a = lines(straight, 'log.jsonl');
    const b = lines(resumed, 'log.jsonl');
    expect(b.map((x) => x['step'])).toEqual([1, 2, 3, 4, 5]);
    for (const k of ['caption', 'regulariser', 'total', 'gradNorm', 'lr']) expect(b.map((x) => x[k]), k).toEqual(a.map((x) => x[k]));
    if (arch === 'sat') expect(a.every((x) => x['regulariser']! > 0)).toBe(true);
    expect(lines(resumed, 'val.jsonl')).toEqual(lines(straight, 'val.jsonl'));
    for (const ck of ['last', 'best', 'step-000003']) {
      for (const f of ['model.safetensors', 'optimizer.safetensors']) {
        const want = tensors(path.join(straight, 'checkpoints', ck, f));
        const got = tensors(path.join(resumed, 'checkpoints', ck, f));
        expect([...got.keys()].sort(), `${ck}/${f}`).toEqual([...want.keys()].sort());
        for (const [k, bytes] of want) expect(got.get(k)!.equals(bytes), `${ck}/${f}: ${k}`).toBe(true);
      }
    }
    // Batch norm's running statistics moved in training, so comparing them compares something.
    const bn = tensors(path.join(straight, 'checkpoints', 'last', 'model.safetensors')).get('decoder.bn.running_mean');
    if (arch === 'showtell') expect(new Float32Array(bn!.buffer, bn!.byteOffset, bn!.byteLength / 4).some((x) => x !== 0)).toBe(true);
  });
});

it('a checkpoint written before runs could resume (state.json holds only the step) is refused in one line', async () => {
  const o = (over: Partial<CaptionerTrainOptions> = {}): CaptionerTrainOptions => ({
    config: loadLstmConfig('showtell', 'nano'), configName: 'nano', data: 'builtin-small', out: path.join(dir, 'old'),
    steps: 3, batch: 4, lr: 3e-3, warmup: 1, weightDecay: 0.1, beta1: 0.9, beta2: 0.98, eps: 1e-6, clip: 1, seed: 1, valEvery: 100, keep: 1, progress: false, valBatches: 1, ...over,
  });
  await trainCaptioner(gpu, o({ stopAfter: 1 }), quiet);
  // As the trainer wrote it before: state.json {step}, listed with its own size and hash in the manifest.
  const last = path.join(dir, 'old', 'checkpoints', 'last');
  const text = JSON.stringify({ step: 1 }, null, 2) + '\n';
  fs.writeFileSync(path.join(last, 'state.json'), text);
  const manifest = JSON.parse(fs.readFileSync(path.join(last, 'manifest.json'), 'utf8')) as { files: { file: string; bytes: number; sha256: string }[] };
  const entry = manifest.files.find((f) => f.file === 'state.json')!;
  Object.assign(entry, { bytes: Buffer.byteLength(text), sha256: createHash('sha256').update(text).digest('hex') });
  fs.writeFileSync(path.join(last, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  await expect(trainCaptioner(gpu, o({ resume: path.join(dir, 'old') }), quiet)).rejects.toThrow(`${last}/state.json lacks the loader's or the dropout generator's place (written before runs could resume); the run cannot continue exactly: start a new run with --out`);
});
