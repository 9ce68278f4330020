// src/train/resume.ts's `ema` entry (b305b6f): a run recorded before --ema had none, so 0 and
// absent are one setting; --override ema changes it, and overriding it to 0 leaves none (as an
// empty --augment does). train-rest.test.ts gives only `ema: 0` again, which never reaches `set`.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { resumeOptions } from '../../../src/train/resume.ts';

let root: string;
beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-audit-resume-'));
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

// run.json as a run without --ema wrote it (the options a run records, no `ema` key).
const base = { config: { embed_dim: 8 }, configName: 'nano', data: 'builtin-small', steps: 100, batch: 8, lr: 0.001, warmup: 10, weightDecay: 0.1, clip: 1, weights: { caption: 2, contrastive: 1 }, seed: 0, valEvery: 50, keep: 2, onNonFinite: 'stop' };
const write = (extra: Record<string, unknown> = {}) => fs.writeFileSync(path.join(root, 'run.json'), JSON.stringify({ ...base, ...extra }));

describe('resuming with --ema', () => {
  it('a decay given to a run without one contradicts it, shown as 0', () => {
    write();
    expect(() => resumeOptions(root, { ema: 0.999 }, [])).toThrow(
      `--ema 0.999 contradicts the run's 0 (${path.join(root, 'run.json')}); drop it to continue the run as it was, or add --override ema to change it`,
    );
  });

  it('--override ema sets the decay', () => {
    write();
    expect(resumeOptions(root, { ema: 0.999 }, ['ema']).ema).toBe(0.999);
    write({ ema: 0.99 });
    expect(resumeOptions(root, { ema: 0.9 }, ['ema']).ema).toBe(0.9);
  });

  it('--override ema 0 on a run with an average leaves none, not a decay of 0', () => {
    write({ ema: 0.99 });
    const o = resumeOptions(root, { ema: 0 }, ['ema']);
    expect(o.ema).toBeUndefined();
  });

  it('the recorded decay given again continues the run', () => {
    write({ ema: 0.99 });
    expect(resumeOptions(root, { ema: 0.99 }, []).ema).toBe(0.99);
  });
});
