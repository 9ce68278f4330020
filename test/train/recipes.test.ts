// The recipes of `coca train` outside the losses, end to end on the micro config: --augment
// (colour, grey, blur) and --ema each take effect, are recorded in run.json, and a stopped run
// resumes with them bit for bit (weights, average, logs).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { readSafetensors } from '../../src/model/safetensors.ts';
import { resumeOptions } from '../../src/train/resume.ts';
import { train, type StepLog, type TrainOptions } from '../../src/train/trainer.ts';
import { testGpu } from '../helpers/gpu.ts';
import { microTrainOptions } from '../helpers/train.ts';

let gpu: Gpu;
let dir: string;
beforeAll(async () => {
  gpu = await testGpu();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-recipes-'));
});
afterAll(() => {
  gpu?.pool.trim();
  fs.rmSync(dir, { recursive: true, force: true });
});

const options = (out: string, over: Partial<TrainOptions> = {}): TrainOptions => microTrainOptions(path.join(dir, out), { steps: 4, ...over });
const quiet = () => {};
const readLog = (run: string): StepLog[] => fs.readFileSync(path.join(dir, run, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as StepLog);
const losses = (run: string) => readLog(run).map((r) => [r.total, r.gradNorm]);

describe('coca train --augment', () => {
  const augment = 'colour=0.4,grey=0.2,blur=0.5';

  it('changes the pictures, is recorded, and a stopped run resumes with it bit for bit', async () => {
    await train(gpu, options('plain'), quiet);
    await train(gpu, options('aug', { augment }), quiet);
    expect(losses('aug')).not.toEqual(losses('plain'));
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'aug', 'run.json'), 'utf8')).augment).toBe(augment);

    await train(gpu, options('aug-resumed', { augment, stopAfter: 2 }), quiet);
    const recorded = resumeOptions(path.join(dir, 'aug-resumed'), {}, []);
    expect(recorded.augment).toBe(augment);
    await train(gpu, { ...options('aug-resumed'), ...recorded, out: path.join(dir, 'aug-resumed'), resume: path.join(dir, 'aug-resumed') }, quiet);
    expect(readLog('aug-resumed').map((r) => r.step)).toEqual([1, 2, 3, 4]);
    expect(losses('aug-resumed')).toEqual(losses('aug'));
  });

  it('a resume keeps the recorded list; another needs --override, none is the same as absent', () => {
    const run = path.join(dir, 'aug');
    expect(() => resumeOptions(run, { augment: 'grey=0.2' }, [])).toThrow(/--augment grey=0.2 contradicts the run's "colour=0.4,grey=0.2,blur=0.5".*--override augment/);
    expect(resumeOptions(run, { augment: 'grey=0.2' }, ['augment']).augment).toBe('grey=0.2');
    expect(resumeOptions(path.join(dir, 'plain'), { augment: '' }, []).augment).toBeUndefined();
  });
});

const tensors = (run: string, file: string): Map<string, number[]> => new Map([...readSafetensors(path.join(dir, run, 'checkpoints', 'last', file)).tensors].map(([k, t]) => [k, [...(t.data as Float32Array)]]));
const readVal = (run: string) => fs.readFileSync(path.join(dir, run, 'val.jsonl'), 'utf8');

describe('coca train --ema', () => {
  it('trains the same weights; the checkpoint model is their average, the weights beside it; validation runs on the average', async () => {
    await train(gpu, options('base', { valEvery: 2 }), quiet);
    await train(gpu, options('ema', { ema: 0.9, valEvery: 2 }), quiet);
    expect(losses('ema'), 'the average does not change what is trained').toEqual(losses('base'));
    const raw = tensors('ema', 'raw.safetensors');
    const plain = tensors('base', 'model.safetensors');
    expect(raw, 'raw.safetensors: the weights of the same run without --ema').toEqual(plain);
    expect(fs.existsSync(path.join(dir, 'base', 'checkpoints', 'last', 'raw.safetensors')), 'no raw file without --ema').toBe(false);
    const avg = tensors('ema', 'model.safetensors');
    expect([...avg.keys()].sort()).toEqual([...raw.keys()].sort());
    const moved = [...avg].filter(([k, v]) => v.some((x, i) => x !== raw.get(k)![i])).length;
    expect(moved, 'the average differs from the weights in most tensors').toBeGreaterThan(avg.size / 2);
    expect(readVal('ema')).not.toEqual(readVal('base'));
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'ema', 'run.json'), 'utf8')).ema).toBe(0.9);
  });

  it('a stopped run resumes bit for bit: logs, validation, weights and average', async () => {
    await train(gpu, options('ema-resumed', { ema: 0.9, valEvery: 2, stopAfter: 3 }), quiet);
    const recorded = resumeOptions(path.join(dir, 'ema-resumed'), {}, []);
    expect(recorded.ema).toBe(0.9);
    await train(gpu, { ...options('ema-resumed'), ...recorded, out: path.join(dir, 'ema-resumed'), resume: path.join(dir, 'ema-resumed') }, quiet);
    expect(readLog('ema-resumed').map((r) => r.step)).toEqual([1, 2, 3, 4]);
    expect(losses('ema-resumed')).toEqual(losses('ema'));
    expect(readVal('ema-resumed')).toEqual(readVal('ema'));
    expect(tensors('ema-resumed', 'raw.safetensors')).toEqual(tensors('ema', 'raw.safetensors'));
    expect(tensors('ema-resumed', 'model.safetensors')).toEqual(tensors('ema', 'model.safetensors'));
  });

  it('a resume that drops the average continues the raw weights; one that adds it starts it from them', async () => {
    await train(gpu, options('ema-dropped', { ema: 0.9, valEvery: 2, stopAfter: 2 }), quiet);
    await train(gpu, options('ema-dropped', { valEvery: 2, resume: path.join(dir, 'ema-dropped') }), quiet);
    expect(tensors('ema-dropped', 'model.safetensors'), 'trained on from raw.safetensors, not from the average').toEqual(tensors('base', 'model.safetensors'));
    expect(fs.existsSync(path.join(dir, 'ema-dropped', 'checkpoints', 'last', 'raw.safetensors'))).toBe(false);
    await train(gpu, options('ema-added', { valEvery: 2, stopAfter: 2 }), quiet);
    await train(gpu, options('ema-added', { ema: 0.9, valEvery: 2, resume: path.join(dir, 'ema-added') }), quiet);
    expect(tensors('ema-added', 'raw.safetensors')).toEqual(tensors('base', 'model.safetensors'));
    expect(tensors('ema-added', 'model.safetensors')).not.toEqual(tensors('base', 'model.safetensors'));
  });

  it('a resume keeps the recorded decay; another needs --override; 0 is the same as absent', () => {
    expect(() => resumeOptions(path.join(dir, 'ema'), { ema: 0.99 }, [])).toThrow(/--ema 0.99 contradicts the run's 0.9.*--override ema/);
    expect(resumeOptions(path.join(dir, 'base'), { ema: 0 }, []).ema).toBeUndefined();
  });
});
