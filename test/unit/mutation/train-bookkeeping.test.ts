// The training bookkeeping that needs no GPU — which checkpoint a resume takes, which step
// folders pruning keeps, the optimizer file's layout, and the rules of `coca train --resume` —
// on folders written here by hand. Before these tests only GPU training runs reached this code,
// which the mutation run (docs/mutation.md) cannot afford: every one of its mutants survived.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeCheckpointFolder } from '../../../src/model/checkpoint-folder.ts';
import { CheckpointError } from '../../../src/model/errors.ts';
import { writeSafetensors } from '../../../src/model/safetensors.ts';
import { checkpointStep, loadOptimizerInto, newestRunCheckpoint, pruneCheckpoints, readTrainState } from '../../../src/train/checkpoint.ts';
import { readRunRecord, resumeOptions, runOf } from '../../../src/train/resume.ts';
import type { AdamW } from '../../../src/train/adamw.ts';
import { TrainError } from '../../../src/train/trainer.ts';

let root: string;
beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-bookkeeping-'));
});
afterEach(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

const model = { name: 'model.safetensors', tensors: new Map([['w', { shape: [1], data: new Float32Array([1]) }]]) };
/** A checkpoint folder as saveCheckpoint writes it: manifest with the step, state.json. */
const checkpoint = (dir: string, step: number) => writeCheckpointFolder(dir, [model, { name: 'state.json', text: JSON.stringify({ step }) }], step);
/** A folder as written before manifests: model.safetensors and state.json only. */
function legacy(dir: string, state: string): void {
  fs.mkdirSync(dir, { recursive: true });
  writeSafetensors(path.join(dir, 'model.safetensors'), model.tensors);
  fs.writeFileSync(path.join(dir, 'state.json'), state);
}
const thrown = (fn: () => unknown): Error => {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
};

describe('checkpointStep', () => {
  it("reads the manifest's step, or an older folder's state.json", () => {
    checkpoint(path.join(root, 'a'), 7);
    expect(checkpointStep(path.join(root, 'a'))).toBe(7);
    legacy(path.join(root, 'b'), JSON.stringify({ step: 4 }));
    expect(checkpointStep(path.join(root, 'b'))).toBe(4);
  });

  it('is null for what is not a training checkpoint', () => {
    writeCheckpointFolder(path.join(root, 'model-only'), [model]); // a manifest without a step
    expect(checkpointStep(path.join(root, 'model-only'))).toBeNull();
    legacy(path.join(root, 'no-step'), '{}');
    expect(checkpointStep(path.join(root, 'no-step'))).toBeNull();
    legacy(path.join(root, 'damaged'), '{"step": ');
    expect(checkpointStep(path.join(root, 'damaged'))).toBeNull();
    fs.mkdirSync(path.join(root, 'state-only'));
    fs.writeFileSync(path.join(root, 'state-only', 'state.json'), JSON.stringify({ step: 3 }));
    expect(checkpointStep(path.join(root, 'state-only'))).toBeNull();
    expect(checkpointStep(path.join(root, 'absent'))).toBeNull();
    // A manifest is believed over state.json: a model folder saved with a state but no step has none.
    writeCheckpointFolder(path.join(root, 'unstepped'), [model, { name: 'state.json', text: JSON.stringify({ step: 5 }) }]);
    expect(checkpointStep(path.join(root, 'unstepped'))).toBeNull();
  });
});

describe('newestRunCheckpoint', () => {
  const ck = (name: string) => path.join(root, 'checkpoints', name);

  it('is null for a run without checkpoints', () => {
    expect(newestRunCheckpoint(root, () => {})).toBeNull();
    fs.mkdirSync(path.join(root, 'checkpoints'));
    expect(newestRunCheckpoint(root, () => {})).toBeNull();
    fs.mkdirSync(path.join(root, 'checkpoints', 'notes'));
    expect(newestRunCheckpoint(root, () => {})).toBeNull();
  });

  it('takes the highest step; at a tie last, then best, then step-N', () => {
    checkpoint(ck('step-000005'), 5);
    expect(newestRunCheckpoint(root, () => {})).toBe(ck('step-000005'));
    checkpoint(ck('best'), 5);
    expect(newestRunCheckpoint(root, () => {})).toBe(ck('best'));
    checkpoint(ck('last'), 5);
    expect(newestRunCheckpoint(root, () => {})).toBe(ck('last'));
    checkpoint(ck('step-000009'), 9);
    expect(newestRunCheckpoint(root, () => {})).toBe(ck('step-000009'));
  });

  it('never takes a dot folder, and says which leftovers it tidied', () => {
    checkpoint(ck('last'), 3);
    checkpoint(ck('.hidden'), 8);
    fs.mkdirSync(ck('.last.tmp-1-abc'));
    const lines: string[] = [];
    expect(newestRunCheckpoint(root, (l) => lines.push(l))).toBe(ck('last'));
    expect(lines).toHaveLength(1);
    expect(lines[0]!.startsWith(`${path.join(root, 'checkpoints')}: `)).toBe(true);
    expect(lines[0]).toContain('.last.tmp-1-abc');
  });
});

describe('pruneCheckpoints', () => {
  it('removes the oldest step-N folders, keeping the newest `keep` and everything else', () => {
    for (const s of [1, 2, 3, 10]) checkpoint(path.join(root, `step-${String(s).padStart(6, '0')}`), s);
    checkpoint(path.join(root, 'last'), 10);
    // Folders that only look like step folders are the user's.
    for (const other of ['step-notes', 'old-step-000001', 'step-000002.bak']) fs.mkdirSync(path.join(root, other));
    const others = ['last', 'old-step-000001', 'step-000002.bak', 'step-notes'];
    pruneCheckpoints(root, 2);
    expect(fs.readdirSync(root).sort()).toEqual([...others, 'step-000003', 'step-000010'].sort());
    pruneCheckpoints(root, 5);
    expect(fs.readdirSync(root).sort()).toEqual([...others, 'step-000003', 'step-000010'].sort());
    pruneCheckpoints(root, 0);
    expect(fs.readdirSync(root).sort()).toEqual(others);
  });
});

describe('training state files', () => {
  it('loadOptimizerInto hands AdamW its step and each parameter its m and v', () => {
    const dir = path.join(root, 'ck');
    fs.mkdirSync(dir);
    const t = (x: number) => ({ shape: [2], data: new Float32Array([x, x + 1]) });
    writeSafetensors(path.join(dir, 'optimizer.safetensors'), { 'm.text.w': t(1), 'v.text.w': t(3), 'm.b': t(5), 'v.b': t(7) }, { step: '12' });
    let got: { step: number; moments: Map<string, { m: Float32Array; v: Float32Array }> } | undefined;
    const opt = { load: (step: number, moments: Map<string, { m: Float32Array; v: Float32Array }>) => (got = { step, moments }) } as unknown as AdamW;
    loadOptimizerInto(dir, opt);
    expect(got!.step).toBe(12);
    expect([...got!.moments.keys()].sort()).toEqual(['b', 'text.w']);
    expect([...got!.moments.get('text.w')!.m]).toEqual([1, 2]);
    expect([...got!.moments.get('text.w')!.v]).toEqual([3, 4]);
    expect([...got!.moments.get('b')!.v]).toEqual([7, 8]);
    // No step recorded: step 0.
    writeSafetensors(path.join(dir, 'optimizer.safetensors'), { 'm.b': t(5), 'v.b': t(7) });
    loadOptimizerInto(dir, opt);
    expect(got!.step).toBe(0);
  });

  it('a model folder is not a training state, in one line', () => {
    const e = thrown(() => loadOptimizerInto(root, { load: () => {} } as unknown as AdamW));
    expect(e).toBeInstanceOf(CheckpointError);
    expect(e.message).toBe(`${root} has no optimizer.safetensors: it holds a model, not a training state; give a checkpoint written by coca train`);
    expect(thrown(() => readTrainState(root)).message).toBe(`${root} has no state.json: it holds a model, not a training state; give a checkpoint written by coca train`);
  });

  it('readTrainState parses state.json, and names a damaged one', () => {
    fs.writeFileSync(path.join(root, 'state.json'), JSON.stringify({ step: 3, lrScale: 0.5 }));
    expect(readTrainState(root)).toEqual({ step: 3, lrScale: 0.5 });
    fs.writeFileSync(path.join(root, 'state.json'), '{"step": 3');
    const e = thrown(() => readTrainState(root));
    expect(e).toBeInstanceOf(CheckpointError);
    expect(e.message).toMatch(/^\S+state\.json is not valid JSON \(.+\); the checkpoint is damaged: use another one$/);
  });
});

// run.json as coca train writes it (the options of the run and its config).
const record = () => ({
  config: { embed_dim: 8 },
  configName: 'nano',
  data: 'builtin-small',
  steps: 100,
  batch: 8,
  lr: 0.001,
  warmup: 10,
  weightDecay: 0.1,
  clip: 1,
  weights: { caption: 2, contrastive: 1 },
  seed: 0,
  valEvery: 50,
  keep: 2,
  onNonFinite: 'stop',
  preprocess: { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25], resizeMode: 'shortest' },
  saveEvery: { steps: 20 },
});

describe('coca train --resume: the run', () => {
  const run = () => path.join(root, 'run');
  function writeRun(r: Record<string, unknown> = record()): string {
    fs.mkdirSync(path.join(run(), 'checkpoints', 'last'), { recursive: true });
    fs.writeFileSync(path.join(run(), 'run.json'), JSON.stringify(r));
    return run();
  }

  it('runOf: a run folder, or the run holding a checkpoint it names', () => {
    writeRun();
    expect(runOf(run())).toBe(run());
    // Relative to the current folder (Stryker's worker threads cannot chdir to test the '.' case).
    expect(runOf(path.join(run(), 'checkpoints', 'last'))).toBe(path.relative(process.cwd(), run()));
  });

  it('runOf: refuses a missing folder and a folder outside any run, in one line', () => {
    const missing = thrown(() => runOf(path.join(root, 'nope')));
    expect(missing).toBeInstanceOf(TrainError);
    expect(missing.message).toBe(`--resume ${path.join(root, 'nope')}: no such folder; give a run folder written by coca train`);
    // A folder inside a 'checkpoints' folder whose parent has no run.json, and a plain folder.
    fs.mkdirSync(path.join(root, 'x', 'checkpoints', 'last'), { recursive: true });
    for (const dir of [path.join(root, 'x', 'checkpoints', 'last'), path.join(root, 'x')])
      expect(thrown(() => runOf(dir)).message).toBe(`--resume ${dir}: not a run folder (no run.json) nor a checkpoint inside one; give a folder written by coca train`);
    writeRun();
    fs.mkdirSync(path.join(run(), 'other', 'last'), { recursive: true });
    expect(thrown(() => runOf(path.join(run(), 'other', 'last'))).message).toMatch(/not a run folder/);
  });

  it('readRunRecord: every setting the resume needs must be recorded; the optional ones may be absent', () => {
    const { preprocess: _p, saveEvery: _s, ...minimal } = record();
    writeRun(minimal);
    expect(readRunRecord(run())).toMatchObject({ lr: 0.001, weights: { caption: 2, contrastive: 1 } });
    const { lr: _lr, ...noLr } = record();
    writeRun(noLr);
    expect(thrown(() => readRunRecord(run())).message).toBe(`${path.join(run(), 'run.json')} records no lr; the run cannot be resumed as it was`);
    const { config: _c, ...noConfig } = record();
    writeRun(noConfig);
    expect(thrown(() => readRunRecord(run())).message).toBe(`${path.join(run(), 'run.json')} records no model config; the run cannot be resumed`);
  });

  it("readRunRecord: an unreadable record is named with the reason", () => {
    fs.mkdirSync(run());
    const e = thrown(() => readRunRecord(run()));
    expect(e).toBeInstanceOf(TrainError);
    expect(e.message).toBe(`${path.join(run(), 'run.json')}: cannot read the run's record (ENOENT); the run cannot be resumed`);
    fs.writeFileSync(path.join(run(), 'run.json'), '{');
    expect(thrown(() => readRunRecord(run())).message).toMatch(/run\.json: cannot read the run's record \(.*JSON.*\); the run cannot be resumed$/);
  });

  it('resumeOptions: the record as it was when nothing contradicts it', () => {
    writeRun();
    const o = resumeOptions(run(), { lr: 0.001, steps: undefined, data: 'builtin-small', 'image-mean': [0.5, 0.5, 0.5], out: 'elsewhere' }, []);
    expect(o).toEqual(record());
  });

  it('resumeOptions: a contradiction is refused unless --override names it', () => {
    writeRun();
    const file = path.join(run(), 'run.json');
    const e = thrown(() => resumeOptions(run(), { lr: 0.5 }, []));
    expect(e).toBeInstanceOf(TrainError);
    expect(e.message).toBe(`--lr 0.5 contradicts the run's 0.001 (${file}); drop it to continue the run as it was, or add --override lr to change it`);
    const o = resumeOptions(run(), { lr: 0.5, steps: 200 }, ['lr', 'steps']);
    expect([o.lr, o.steps, o.batch]).toEqual([0.5, 200, 8]);
    // The loss weights are one record: changing one keeps the other.
    expect(resumeOptions(run(), { 'caption-weight': 3 }, ['caption-weight']).weights).toEqual({ caption: 3, contrastive: 1 });
    expect(resumeOptions(run(), { 'contrastive-weight': 0.5 }, ['contrastive-weight']).weights).toEqual({ caption: 2, contrastive: 0.5 });
  });

  it('resumeOptions: the model, the data and the preprocessing never change', () => {
    writeRun();
    const file = path.join(run(), 'run.json');
    expect(thrown(() => resumeOptions(run(), { data: 'other' }, [])).message).toBe(
      `--data other contradicts the run's "builtin-small" (${file}): the data of a run cannot change (its place in the data is part of the checkpoint); start a new run with --out`,
    );
    expect(thrown(() => resumeOptions(run(), { 'image-std': [1, 1, 1] }, [])).message).toMatch(/^--image-std 1,1,1 contradicts the run's \[0\.25,0\.25,0\.25\] .*: the preprocessing is the model's/);
    expect(thrown(() => resumeOptions(run(), { preset: 'tiny' }, ['preset'])).message).toBe('--override preset: the model of a run cannot change; start a new run with --out');
  });

  it('resumeOptions: --save-every changes freely; --override must name a changeable option that was given', () => {
    writeRun();
    expect(resumeOptions(run(), { 'save-every': { seconds: 60 } }, []).saveEvery).toEqual({ seconds: 60 });
    expect(thrown(() => resumeOptions(run(), {}, ['lr'])).message).toBe('--override lr names an option not given; add --lr VALUE');
    expect(thrown(() => resumeOptions(run(), { out: 'x' }, ['out'])).message).toBe(
      '--override out: not an option of coca train a resume can change (one of: steps, batch, lr, warmup, weight-decay, clip, caption-weight, contrastive-weight, seed, val-every, keep, on-nan, grad-accum, micro-batch, lock-image, precision, augment, contrastive-positives, label-smoothing, ema)',
    );
  });
});
