// Training bookkeeping the earlier mutation passes left "untested" (docs/mutation.md, ninth pass):
// pruning past step 999,999, an optimizer file missing one of a parameter's moments, and a resume
// whose run folder is the current folder. Folders written here by hand; no GPU.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { writeCheckpointFolder } from '../../../src/model/checkpoint-folder.ts';
import { CheckpointError } from '../../../src/model/errors.ts';
import { readSafetensors, writeSafetensors } from '../../../src/model/safetensors.ts';
import type { StoredModel } from '../../../src/model/checkpoint.ts';
import type { AdamW } from '../../../src/train/adamw.ts';
import { checkpointStep, loadOptimizerInto, pruneCheckpoints, readTrainState, saveCheckpoint } from '../../../src/train/checkpoint.ts';
import { resumeOptions, runOf } from '../../../src/train/resume.ts';

let root: string;
beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-train-rest-'));
});
afterEach(() => {
  vi.restoreAllMocks();
  fs.rmSync(root, { recursive: true, force: true });
});

const model = { name: 'model.safetensors', tensors: new Map([['w', { shape: [1], data: new Float32Array([1]) }]]) };

describe('pruneCheckpoints', () => {
  it('orders step folders by number, so step 1,000,000 (seven digits) is newer than step 999,999', () => {
    // The trainers pad to six digits: step-999999, then step-1000000, which sorts first by name.
    for (const s of [999_998, 999_999, 1_000_000, 1_000_001]) writeCheckpointFolder(path.join(root, `step-${String(s).padStart(6, '0')}`), [model], s);
    pruneCheckpoints(root, 2);
    expect(fs.readdirSync(root).sort()).toEqual(['step-1000000', 'step-1000001']);
  });
});

describe('loadOptimizerInto', () => {
  const t = (x: number) => ({ shape: [2], data: new Float32Array([x, x + 1]) });
  const opt = { load: () => expect.unreachable('a damaged file must be refused before AdamW sees it') } as unknown as AdamW;

  it('refuses a parameter with one moment in one line, whichever is missing', () => {
    const file = path.join(root, 'optimizer.safetensors');
    writeSafetensors(file, { 'm.a': t(1), 'v.a': t(3), 'm.text.w': t(5) }, { step: '4' });
    expect(() => loadOptimizerInto(root, opt)).toThrow(new CheckpointError(`${file} has no v.text.w beside its m.text.w; the checkpoint is damaged: use another one`));
    writeSafetensors(file, { 'v.b': t(1) }, { step: '4' });
    expect(() => loadOptimizerInto(root, opt)).toThrow(new CheckpointError(`${file} has no m.b beside its v.b; the checkpoint is damaged: use another one`));
  });

  it('refuses a tensor that is neither an m. nor a v. moment', () => {
    const file = path.join(root, 'optimizer.safetensors');
    writeSafetensors(file, { 'm.a': t(1), 'v.a': t(3), 'step.a': t(0) });
    expect(() => loadOptimizerInto(root, opt)).toThrow(new CheckpointError(`${file} holds a tensor "step.a" that is neither a first (m.) nor a second (v.) moment; the checkpoint is damaged: use another one`));
  });
});

describe('runOf', () => {
  it('a checkpoint of the run in the current folder gives "." (not the empty string)', () => {
    fs.writeFileSync(path.join(root, 'run.json'), '{}');
    fs.mkdirSync(path.join(root, 'checkpoints', 'last'), { recursive: true });
    // path.relative reads process.cwd(); mocking it stands in for process.chdir, which the worker
    // threads Stryker runs the tests in refuse. The argument is absolute, so fs never reads the cwd.
    vi.spyOn(process, 'cwd').mockReturnValue(root);
    expect(runOf(path.join(root, 'checkpoints', 'last'))).toBe('.');
    vi.spyOn(process, 'cwd').mockReturnValue(path.join(root, 'checkpoints'));
    expect(runOf(path.join(root, 'checkpoints', 'last'))).toBe('..');
  });
});

describe('resumeOptions and the options added after runs were first recorded', () => {
  // run.json as a run from before --augment, --contrastive-positives, --label-smoothing and --ema wrote it.
  const old = { config: { embed_dim: 8 }, configName: 'nano', data: 'builtin-small', steps: 100, batch: 8, lr: 0.001, warmup: 10, weightDecay: 0.1, clip: 1, weights: { caption: 2, contrastive: 1 }, seed: 0, valEvery: 50, keep: 2, onNonFinite: 'stop' };
  const write = (extra: Record<string, unknown> = {}) => fs.writeFileSync(path.join(root, 'run.json'), JSON.stringify({ ...old, ...extra }));
  const contradicts = (flag: string, value: unknown, recorded: unknown) =>
    `--${flag} ${value} contradicts the run's ${JSON.stringify(recorded)} (${path.join(root, 'run.json')}); drop it to continue the run as it was, or add --override ${flag} to change it`;

  it('their defaults given again continue an old run as it was', () => {
    write();
    expect(resumeOptions(root, { augment: '', 'contrastive-positives': 'none', 'label-smoothing': 0, ema: 0 }, [])).toEqual(old);
  });

  it('anything else contradicts the old run, shown as its default', () => {
    write();
    expect(() => resumeOptions(root, { augment: 'colour' }, [])).toThrow(contradicts('augment', 'colour', ''));
    expect(() => resumeOptions(root, { 'contrastive-positives': 'concept' }, [])).toThrow(contradicts('contrastive-positives', 'concept', 'none'));
    expect(() => resumeOptions(root, { 'label-smoothing': 0.1 }, [])).toThrow(contradicts('label-smoothing', 0.1, 0));
  });

  it('--override sets them; an empty --augment overridden onto a run that had one leaves none', () => {
    write();
    const o = resumeOptions(root, { augment: 'colour', 'contrastive-positives': 'concept', 'label-smoothing': 0.1 }, ['augment', 'contrastive-positives', 'label-smoothing']);
    expect([o.augment, o.contrastivePositives, o.labelSmoothing]).toEqual(['colour', 'concept', 0.1]);
    write({ augment: 'colour' });
    const cleared = resumeOptions(root, { augment: '' }, ['augment']);
    expect(cleared.augment).toBeUndefined();
    expect('augment' in cleared && cleared.augment !== undefined).toBe(false);
  });
});

describe('saveCheckpoint', () => {
  // The model and AdamW as saveCheckpoint reads them (their GPU side is what test/model/checkpoint.test.ts covers).
  const params = new Map([
    ['w', { shape: [2], data: new Float32Array([1, 2]) }],
    ['b.bias', { shape: [1], data: new Float32Array([3]) }],
  ]);
  const model = { params: { state: async () => [...params], get: (n: string) => params.get(n)! }, config: { embed_dim: 8 } } as unknown as StoredModel;
  const hyper = { lr: 0.001, beta1: 0.9 };
  const optimizer = {
    step: 7,
    hyper,
    state: async () => [
      ['w', { m: new Float32Array([0.5, 0.25]), v: new Float32Array([4, 8]) }],
      ['b.bias', { m: new Float32Array([-1]), v: new Float32Array([2]) }],
    ],
  } as unknown as AdamW;

  it('writes the model, the moments under m. and v. with the step and hyper-parameters, and state.json, at its step', async () => {
    const dir = path.join(root, 'ck');
    await saveCheckpoint(dir, model, { optimizer, state: { step: 7, lrScale: 0.5 }, tokenizerJson: '{"tok": 1}', extraFiles: [{ name: 'words.txt', text: 'a\n' }] });
    expect(fs.readdirSync(dir).sort()).toEqual(['config.json', 'manifest.json', 'model.safetensors', 'optimizer.safetensors', 'state.json', 'tokenizer.json', 'words.txt']);
    const opt = readSafetensors(path.join(dir, 'optimizer.safetensors'));
    expect(opt.metadata).toEqual({ step: '7', hyper: JSON.stringify(hyper) });
    expect(Object.fromEntries([...opt.tensors].map(([k, t]) => [k, [t.shape, [...t.data]]]))).toEqual({ 'm.w': [[2], [0.5, 0.25]], 'v.w': [[2], [4, 8]], 'm.b.bias': [[1], [-1]], 'v.b.bias': [[1], [2]] });
    expect(fs.readFileSync(path.join(dir, 'state.json'), 'utf8')).toBe('{\n  "step": 7,\n  "lrScale": 0.5\n}\n');
    expect(readTrainState(dir)).toEqual({ step: 7, lrScale: 0.5 });
    expect(checkpointStep(dir)).toBe(7);
    expect(fs.readFileSync(path.join(dir, 'words.txt'), 'utf8')).toBe('a\n');
    // And back: AdamW is handed what was saved.
    let got: [number, Map<string, { m: Float32Array; v: Float32Array }>] | undefined;
    loadOptimizerInto(dir, { load: (step: number, m: Map<string, { m: Float32Array; v: Float32Array }>) => (got = [step, m]) } as unknown as AdamW);
    expect(got![0]).toBe(7);
    expect([...got![1].get('b.bias')!.m, ...got![1].get('b.bias')!.v]).toEqual([-1, 2]);
  });

  it('without an optimizer or a state: the model alone, no step', async () => {
    const dir = path.join(root, 'model');
    await saveCheckpoint(dir, model);
    expect(fs.readdirSync(dir).sort()).toEqual(['config.json', 'manifest.json', 'model.safetensors']);
    expect(checkpointStep(dir)).toBeNull();
  });
});
