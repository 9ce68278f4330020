// `coca train --contrastive-batch N --micro-batch M`: a run gradient-cached logs the losses of the
// same run in one batch (same seed, so the same batches), validation included, records the
// micro-batch in run.json for --resume (which keeps it), and the command refuses settings it
// cannot honour in one line before opening the GPU.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { checkGradCache, checkGradCacheArgs } from '../../src/cli/train.ts';
import { OptionError } from '../../src/cli/numbers.ts';
import { resumeOptions } from '../../src/train/resume.ts';
import { parseGradCacheSizes } from '../../src/bench/gradcache.ts';
import { BenchInputError } from '../../kernels/bench/harness.ts';
import { train, type StepLog } from '../../src/train/trainer.ts';
import type { Validation } from '../../src/train/validate.ts';
import { testGpu } from '../helpers/gpu.ts';
import { microTrainOptions } from '../helpers/train.ts';

let gpu: Gpu;
let dir: string;
beforeAll(async () => {
  gpu = await testGpu();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-gradcache-'));
});
afterAll(() => {
  gpu?.pool.trim();
  fs.rmSync(dir, { recursive: true, force: true });
});

const jsonl = <T>(file: string): T[] => fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as T);

describe('coca train with gradient caching', () => {
  it('logs the losses and validation of the same run in one batch', async () => {
    const run = (name: string, microBatch?: number) => microTrainOptions(path.join(dir, name), { steps: 3, valEvery: 3, ...(microBatch ? { microBatch } : {}) });
    await train(gpu, run('whole'), () => {});
    const lines: string[] = [];
    await train(gpu, run('cached', 4), (l) => lines.push(l));
    expect(lines.join('\n')).toContain('batch 16 contrastive, gradient-cached in micro-batches of 4');
    const a = jsonl<StepLog>(path.join(dir, 'whole', 'log.jsonl'));
    const b = jsonl<StepLog>(path.join(dir, 'cached', 'log.jsonl'));
    expect(b.map((r) => r.step)).toEqual([1, 2, 3]);
    for (let i = 0; i < a.length; i++) {
      for (const k of ['contrastive', 'caption', 'gradNorm'] as const) expect(b[i]![k], `step ${i + 1} ${k}`).toBeCloseTo(a[i]![k], 3);
    }
    const [va] = jsonl<Validation>(path.join(dir, 'whole', 'val.jsonl'));
    const [vb] = jsonl<Validation>(path.join(dir, 'cached', 'val.jsonl'));
    expect(vb!.contrastive).toBeCloseTo(va!.contrastive, 3);
    expect(vb!.caption).toBeCloseTo(va!.caption, 3);
    expect(vb!.items).toBe(va!.items);
    const record = JSON.parse(fs.readFileSync(path.join(dir, 'cached', 'run.json'), 'utf8')) as { batch: number; microBatch: number };
    expect(record).toMatchObject({ batch: 16, microBatch: 4 });
    // --resume keeps the micro-batch; another is a contradiction unless --override names it.
    const cached = path.join(dir, 'cached');
    expect(resumeOptions(cached, {}, []).microBatch).toBe(4);
    expect(() => resumeOptions(cached, { 'micro-batch': 8 }, [])).toThrow(/--micro-batch 8 contradicts the run's 4.*--override micro-batch/);
    expect(resumeOptions(cached, { 'micro-batch': 8 }, ['micro-batch']).microBatch).toBe(8);
  });
});

function coca(args: string[]) {
  return spawnSync(process.execPath, ['bin/coca.js', 'train', '--out', path.join(dir, 'refused'), ...args], { encoding: 'utf8', timeout: 120_000 });
}

const refusal = (fn: () => void): string => {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(OptionError);
    return (e as Error).message;
  }
  throw new Error('expected a refusal');
};

describe('coca train --contrastive-batch options', () => {
  it('refuses a batch not a multiple of the micro-batch in one line, before the GPU opens, leaving no run folder', () => {
    const r = coca(['--contrastive-batch', '100', '--micro-batch', '32']);
    expect(r.status).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/--contrastive-batch 100 is not a multiple of --micro-batch 32; make it one \(e\.g\. 96 or 128\)/);
    expect(fs.existsSync(path.join(dir, 'refused'))).toBe(false);
  });

  it('refuses the other settings it cannot honour, saying what to give', () => {
    expect(refusal(() => checkGradCache(16, 32, 1))).toMatch(/--micro-batch 32 is larger than --contrastive-batch 16/);
    expect(refusal(() => checkGradCache(20, 9, 1))).toMatch(/--contrastive-batch 20 is not a multiple of --micro-batch 9; make it one \(e\.g\. 18 or 27\)/);
    expect(refusal(() => checkGradCache(64, 8, 2))).toMatch(/--grad-accum 2 does not combine with --contrastive-batch.*--contrastive-batch 128/);
    expect(refusal(() => checkGradCache(64, 0, 1))).toMatch(/micro-batch/);
    expect(refusal(() => checkGradCacheArgs({ 'contrastive-batch': 64 }, undefined))).toMatch(/--contrastive-batch 64 needs --micro-batch M/);
    expect(refusal(() => checkGradCacheArgs({ 'micro-batch': 8 }, undefined))).toMatch(/--micro-batch 8 needs --contrastive-batch N/);
    expect(refusal(() => checkGradCacheArgs({ 'contrastive-batch': 64, 'micro-batch': 8, batch: 32 }, undefined))).toMatch(/--batch 32 and --contrastive-batch 64 disagree/);
    // Accepted: the settings themselves, a resume taking M from its record, --batch equal to N.
    checkGradCache(64, 8, 1);
    checkGradCache(8, 8, 1);
    checkGradCacheArgs({ 'contrastive-batch': 64, resume: 'runs/x' }, 8);
    checkGradCacheArgs({ 'contrastive-batch': 64, 'micro-batch': 8, batch: 64 }, undefined);
  });
});

describe('coca bench gradcache --sizes', () => {
  it('takes preset:N/M pairs and refuses others in one line', () => {
    expect(parseGradCacheSizes('nano:1024/32, tiny:64/8')).toEqual([
      { preset: 'nano', N: 1024, M: 32 },
      { preset: 'tiny', N: 64, M: 8 },
    ]);
    for (const bad of ['nano:10/3', 'huge:64/8', 'nano:64', 'nano:64/0']) expect(() => parseGradCacheSizes(bad), bad).toThrow(BenchInputError);
  });
});
