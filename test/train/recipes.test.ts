// The recipes of `coca train` outside the losses, end to end on the micro config: --augment
// (colour, grey, blur) takes effect, is recorded in run.json, and a stopped run resumes with it
// bit for bit.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
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
