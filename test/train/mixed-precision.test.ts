// Mixed-precision training (--precision f16) end to end on the micro config: the loss scale is
// divided out exactly (f32 steps at scale 1 and 1024 are bit-identical), an overflowing scale
// skips the update on the GPU (parameters and AdamW untouched), the trainer halves the scale on
// an overflow and doubles it after clean steps, logs it, records the precision and resumes it
// exactly; f16's curve follows f32's, also with gradient accumulation and gradient caching; an
// adapter without shader-f16 gets one line, nothing written.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { CocaModel } from '../../src/model/coca.ts';
import { setPrecision } from '../../src/tensor/precision.ts';
import { AdamW } from '../../src/train/adamw.ts';
import { resumeOptions } from '../../src/train/resume.ts';
import { syntheticBatch, trainStep } from '../../src/train/step.ts';
import { train, type StepLog, type TrainOptions } from '../../src/train/trainer.ts';
import { Rng } from '../../src/util/prng.ts';
import { testGpu } from '../helpers/gpu.ts';
import { microConfig, microTrainOptions } from '../helpers/train.ts';

let gpu: Gpu;
let dir: string;
beforeAll(async () => {
  gpu = await testGpu();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-f16-'));
});
afterAll(() => {
  setPrecision(gpu, 'f32');
  gpu?.pool.trim();
  fs.rmSync(dir, { recursive: true, force: true });
});

const quiet = () => {};
const options = (out: string, over: Partial<TrainOptions> = {}): TrainOptions => microTrainOptions(path.join(dir, out), over);
const readLog = (run: string): StepLog[] => fs.readFileSync(path.join(dir, run, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as StepLog);

async function paramsOf(model: CocaModel): Promise<Float32Array[]> {
  return Promise.all(model.params.chunks.map((c) => gpu.read(c.params)));
}

/** One step of a fresh micro model (seed 3) on a fixed synthetic batch. */
async function oneStep(lossScale: number): Promise<{ report: Awaited<ReturnType<typeof trainStep>>; before: Float32Array[]; after: Float32Array[]; adamStep: number }> {
  const model = CocaModel.init(gpu, microConfig(), 3);
  const opt = new AdamW(gpu, model.params, { lr: 1e-2 });
  const inp = model.prepare(syntheticBatch(model, 5, new Rng(4)));
  try {
    const before = await paramsOf(model);
    const report = await trainStep(model, opt, inp, { lossScale, clip: 0.5 });
    return { report, before, after: await paramsOf(model), adamStep: opt.step };
  } finally {
    inp.release();
    opt.release();
    model.params.release();
  }
}

describe('loss scaling in the step', () => {
  it('f32: a step at loss scale 1024 is bit-identical to one at 1 (the scale is divided out exactly)', async () => {
    const a = await oneStep(1);
    const b = await oneStep(1024);
    expect(b.report.gradNorm).toBe(a.report.gradNorm);
    expect(b.report.total).toBe(a.report.total);
    expect(b.report.nonFinite).toBeNull();
    for (let c = 0; c < a.after.length; c++) expect(b.after[c]!).toEqual(a.after[c]!);
    expect(a.after[0]).not.toEqual(a.before[0]); // the step did move the parameters
  });

  it('f16: at a scale whose gradients overflow f16 the update is skipped on the GPU; at 2^16 it follows f32', async () => {
    setPrecision(gpu, 'f16');
    try {
      const over = await oneStep(2 ** 40);
      expect(over.report.nonFinite).toBe('a gradient is NaN or Inf');
      expect(Number.isFinite(over.report.total)).toBe(true);
      expect(over.adamStep).toBe(0);
      for (let c = 0; c < over.after.length; c++) expect(over.after[c]!).toEqual(over.before[c]!);
      const half = await oneStep(2 ** 16);
      setPrecision(gpu, 'f32');
      const full = await oneStep(1);
      expect(half.report.nonFinite).toBeNull();
      expect(half.adamStep).toBe(1);
      expect(Math.abs(half.report.total - full.report.total)).toBeLessThan(1e-3 * full.report.total);
      expect(Math.abs(half.report.gradNorm - full.report.gradNorm)).toBeLessThan(1e-2 * full.report.gradNorm);
    } finally {
      setPrecision(gpu, 'f32');
    }
  });
});

describe('coca train --precision f16', () => {
  it("follows f32's loss curve from the same seed, logs the scale, records the precision", async () => {
    await train(gpu, options('f32'), quiet);
    await train(gpu, options('f16', { precision: 'f16' }), quiet);
    const [a, b] = [readLog('f32'), readLog('f16')];
    expect(b.map((r) => r.step)).toEqual([1, 2, 3, 4, 5, 6]);
    for (let i = 0; i < a.length; i++) {
      expect(Math.abs(b[i]!.total - a[i]!.total), `step ${i + 1}: ${b[i]!.total} against f32's ${a[i]!.total}`).toBeLessThan(2e-3 * a[i]!.total);
      expect(b[i]!.lossScale).toBe(65536);
      expect(a[i]!.lossScale).toBeUndefined();
    }
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'f16', 'run.json'), 'utf8')).precision).toBe('f16');
    const state = JSON.parse(fs.readFileSync(path.join(dir, 'f16', 'checkpoints', 'last', 'state.json'), 'utf8'));
    expect(JSON.stringify(state)).toContain('"lossScale":{"scale":65536,"cleanSteps":6}');
    // A resume keeps it; changing it needs --override.
    expect(resumeOptions(path.join(dir, 'f16'), {}, []).precision).toBe('f16');
    expect(() => resumeOptions(path.join(dir, 'f16'), { precision: 'f32' }, [])).toThrow(/^--precision f32 contradicts the run's "f16" \(.*run\.json\); drop it to continue the run as it was, or add --override precision to change it$/);
  });

  it('an overflow skips the step and halves the scale, clean steps double it; a resumed run does the same', async () => {
    const lines: string[] = [];
    // 2^20 overflows f16 in this model's backward (2^16 does not); two clean steps in a row double the scale.
    const o = { precision: 'f16' as const, steps: 14, lossScale: { initScale: 2 ** 20, growthInterval: 2 } };
    await train(gpu, options('scaled', o), (l) => lines.push(l));
    const log = readLog('scaled');
    const skipped = lines.map((l) => /^step (\d+): gradients overflowed at loss scale (\d+); step skipped, loss scale halved to (\d+)$/.exec(l)).filter((m) => m !== null);
    expect(skipped.length, lines.join('\n')).toBeGreaterThan(0);
    for (const m of skipped) expect(Number(m[3])).toBe(Number(m[2]) / 2);
    // Every step is either logged or skipped; skipped steps are not logged.
    const skippedSteps = skipped.map((m) => Number(m[1]));
    expect([...log.map((r) => r.step), ...skippedSteps].sort((x, y) => x - y)).toEqual(Array.from({ length: 14 }, (_, i) => i + 1));
    // The scale of each step: the previous one halved after a skip, doubled after two clean steps in a row.
    let scale = 2 ** 20;
    let clean = 0;
    let grew = 0;
    for (let step = 1; step <= 14; step++) {
      const m = skipped.find((x) => Number(x[1]) === step);
      if (m) {
        expect(Number(m[2]), `step ${step}`).toBe(scale);
        scale /= 2;
        clean = 0;
        continue;
      }
      expect(log.find((r) => r.step === step)!.lossScale, `step ${step}`).toBe(scale);
      if (++clean === 2) {
        scale *= 2;
        clean = 0;
        grew++;
      }
    }
    expect(grew, 'clean steps grew the scale').toBeGreaterThan(0);
    expect(log.every((r) => Number.isFinite(r.total) && Number.isFinite(r.gradNorm))).toBe(true);

    // Stopped after 5 steps and resumed: the same steps skipped, the same scales and losses.
    await train(gpu, options('scaled-resumed', { ...o, stopAfter: 5 }), quiet);
    await train(gpu, options('scaled-resumed', { ...o, resume: path.join(dir, 'scaled-resumed') }), quiet);
    const r = readLog('scaled-resumed');
    expect(r.map((x) => [x.step, x.lossScale, x.total])).toEqual(log.map((x) => [x.step, x.lossScale, x.total]));
  });

  for (const [name, over] of [['grad-accum 2', { gradAccum: 2, batch: 8 }], ['contrastive-batch 16, micro-batch 8', { batch: 16, microBatch: 8 }]] as const) {
    it(`with --${name}: follows f32 (the scale divided out of the gradients summed over the pieces)`, async () => {
      const tag = name.split(' ')[0]!;
      await train(gpu, options(`${tag}-f32`, { steps: 4, ...over }), quiet);
      await train(gpu, options(`${tag}-f16`, { steps: 4, ...over, precision: 'f16' }), quiet);
      const [a, b] = [readLog(`${tag}-f32`), readLog(`${tag}-f16`)];
      expect(b.map((r) => r.step)).toEqual([1, 2, 3, 4]);
      for (let i = 0; i < a.length; i++) {
        expect(Math.abs(b[i]!.total - a[i]!.total), `step ${i + 1}`).toBeLessThan(2e-3 * a[i]!.total);
        // A norm of the scaled gradients would be 65536 times f32's; the trajectories part slowly
        // (the norm falls fast early on, so a few % by step 4), so tight at step 1 only.
        expect(Math.abs(b[i]!.gradNorm - a[i]!.gradNorm), `step ${i + 1} gradient norm`).toBeLessThan((i === 0 ? 5e-3 : 0.1) * a[i]!.gradNorm);
      }
    });
  }

  it('an adapter without shader-f16 is refused in one line before anything is written', async () => {
    const fake = { has: () => false, adapter: { description: 'SwiftShader Device (Subzero)', device: '', backend: 'vulkan' } } as unknown as Gpu;
    await expect(train(fake, options('refused', { precision: 'f16' }), quiet)).rejects.toThrow(/^--precision f16 needs the shader-f16 feature, which SwiftShader Device \(Subzero\) lacks; use f32 \(--precision f32\)$/);
    expect(fs.existsSync(path.join(dir, 'refused'))).toBe(false);
  });
});
