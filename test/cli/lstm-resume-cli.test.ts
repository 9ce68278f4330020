// coca train --resume of an LSTM captioner's run: options that contradict the run's record are
// refused in one line before any GPU work (the same rules as CoCa's resume), an architecture that
// cannot resume says so, and `coca train --resume RUN` as the command runs continues the run to
// its recorded steps.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import yargs from 'yargs';
import { failureLines } from '../../src/cli/failure.ts';
import { trainCommand } from '../../src/cli/train.ts';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { loadLstmConfig } from '../../src/model/captioners/config.ts';
import { trainCaptioner } from '../../src/train/captioner-trainer.ts';
import { testGpu } from '../helpers/gpu.ts';

let gpu: Gpu;
let dir: string;
let run: string;
beforeAll(async () => {
  gpu = await testGpu();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-lstm-resume-cli-'));
  run = path.join(dir, 'sat');
  await trainCaptioner(gpu, { config: loadLstmConfig('sat', 'nano'), configName: 'nano', data: 'builtin-small', out: run, steps: 3, batch: 4, lr: 3e-3, warmup: 1, weightDecay: 0.1, beta1: 0.9, beta2: 0.98, eps: 1e-6, clip: 1, seed: 2, valEvery: 100, keep: 1, progress: false, valBatches: 1, stopAfter: 1 }, () => {});
  fs.mkdirSync(path.join(dir, 'devise'));
  fs.writeFileSync(path.join(dir, 'devise', 'run.json'), JSON.stringify({ arch: 'devise' }));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
  gpu?.pool.trim();
});

/** What `coca train ARGS` prints on failure, run in this process through the same yargs command. */
async function refusal(args: string[]): Promise<string[]> {
  try {
    await yargs(['train', ...args]).command(trainCommand).strict().exitProcess(false).fail((msg, err) => {
      throw err ?? new Error(msg);
    }).parseAsync();
  } catch (e) {
    return failureLines(e, false);
  }
  return [];
}

describe('coca train --resume of a sat run', () => {
  it.each([
    [['--resume', 'RUN', '--batch', '7'], '--batch 7 contradicts the run\'s 4 (RUN/run.json): the data of a run and its place in it cannot change (they are part of the checkpoint); start a new run with --out'],
    [['--resume', 'RUN', '--steps', '9'], '--steps 9 contradicts the run\'s 3 (RUN/run.json); drop it to continue the run as it was, or add --override steps to change it'],
    [['--resume', 'RUN', '--override', 'batch', '--batch', '7'], '--override batch: the data of a run and its place in it cannot change (they are part of the checkpoint); start a new run with --out'],
    [['--resume', 'RUN', '--override', 'lr'], '--override lr names an option not given; add --lr VALUE'],
    [['--resume', 'RUN', '--out', 'DIR/elsewhere'], '--out DIR/elsewhere with --resume: a resumed run continues in its own folder (RUN); drop --out'],
    [['--resume', 'RUN', '--arch', 'showtell'], '--arch showtell and --resume RUN disagree: that run trains --arch sat; drop --arch'],
    [['--arch', 'sat', '--override', 'steps', '--steps', '4'], '--override only applies with --resume (a new run takes its options as given)'],
    [['--resume', 'DIR/devise'], '--resume DIR/devise: the run trains --arch devise, which cannot be resumed yet; start a new run (its checkpoints/last is complete)'],
  ])('%j is refused in one line', async (args, line) => {
    const sub = (s: string) => s.replaceAll('RUN', run).replaceAll('DIR', dir);
    expect(await refusal(args.map(sub))).toEqual([`coca: ${sub(line)}`]);
    expect(fs.existsSync(path.join(dir, 'elsewhere'))).toBe(false);
  });

  it('coca train --resume RUN continues it to its recorded steps', () => {
    const r = spawnSync(process.execPath, ['bin/coca.js', 'train', '--resume', run, '--steps', '3'], { encoding: 'utf8', timeout: 240_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(`resumed from ${path.join(run, 'checkpoints', 'last')} at step 1`);
    expect(r.stdout).toMatch(/done: 3 steps/);
    const steps = fs.readFileSync(path.join(run, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { step: number }).step);
    expect(steps).toEqual([1, 2, 3]);
  });
});
