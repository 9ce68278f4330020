// Checkpoints that are mixed, truncated, broken or foreign are refused in one line naming what is
// wrong, with a non-zero exit and nothing on disk changed; a resume takes the run's own options
// (a contradicting one needs --override); a killed run continues in its own folder. Each case
// runs the `coca` command as a user would, on a short run of the parity micro config.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trainTokenizer } from '../../src/data/index.ts';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const MICRO = path.join(ROOT, 'test', 'fixtures', 'parity_micro.json');
let dir: string;
let base: string;
let picture: string;
// The run's own options, given again on a resume: no contradiction (and code from before this
// change, which ignored the record, then resumes the same model instead of its defaults').
const SAME = ['--config', MICRO, '--steps', '6', '--batch', '8'];

function coca(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'coca.js'), ...args], { encoding: 'utf8', cwd: dir, env: { ...process.env, ...env }, timeout: 300_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Every file under `root` (dot-folders included) → its sha256. */
function snapshot(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out[path.relative(root, p)] = createHash('sha256').update(fs.readFileSync(p)).digest('hex');
    }
  };
  walk(root);
  return out;
}

/** A copy of the base run to spoil. */
function copyRun(name: string): string {
  const run = path.join(dir, name);
  fs.cpSync(base, run, { recursive: true });
  return run;
}

/** The one line coca printed for a refusal (warnings of the GPU driver aside). */
const cocaLines = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('coca: '));

function rewriteManifestEntry(ck: string, file: string): void {
  const mf = path.join(ck, 'manifest.json');
  if (!fs.existsSync(mf)) return; // a folder of the code before manifests (to run this test against it)
  const m = JSON.parse(fs.readFileSync(mf, 'utf8')) as { files: { file: string; bytes: number; sha256: string }[] };
  const e = m.files.find((x) => x.file === file)!;
  const bytes = fs.readFileSync(path.join(ck, file));
  e.bytes = bytes.length;
  e.sha256 = createHash('sha256').update(bytes).digest('hex');
  fs.writeFileSync(mf, JSON.stringify(m, null, 2) + '\n');
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-reliability-'));
  base = path.join(dir, 'base');
  const r = coca(['train', '--config', MICRO, '--steps', '6', '--batch', '8', '--val-every', '2', '--keep', '3', '--out', base]);
  expect(r.status, r.stderr).toBe(0);
  picture = path.join(dir, 'red.png');
  await sharp({ create: { width: 20, height: 20, channels: 3, background: { r: 220, g: 20, b: 20 } } }).png().toFile(picture);
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('checkpoint folders are refused when not whole', () => {
  it('a mixed folder (weights of step 2 beside the optimizer and state of step 6) is refused by train --resume and caption, naming the file', () => {
    const run = copyRun('mixed');
    const last = path.join(run, 'checkpoints', 'last');
    fs.copyFileSync(path.join(run, 'checkpoints', 'step-000002', 'model.safetensors'), path.join(last, 'model.safetensors'));
    const before = snapshot(run);
    const want = `coca: ${path.join(last, 'model.safetensors')} does not match the checkpoint's manifest (its sha256 differs: written by another save); the folder is mixed or damaged: use another checkpoint of the run (best, last or step-N)`;
    const t = coca(['train', '--resume', run, ...SAME]);
    expect(t.status).toBe(1);
    expect(cocaLines(t.stderr)).toEqual([want]);
    const c = coca(['caption', picture, '--checkpoint', last]);
    expect(c.status).toBe(1);
    expect(cocaLines(c.stderr)).toEqual([want]);
    expect(c.stdout).toBe('');
    expect(snapshot(run)).toEqual(before);
  });

  it('a truncated state.json is refused by train --resume, naming it', () => {
    const run = copyRun('truncated');
    const state = path.join(run, 'checkpoints', 'last', 'state.json');
    const size = fs.statSync(state).size;
    fs.truncateSync(state, 40);
    const before = snapshot(run);
    const t = coca(['train', '--resume', run, ...SAME]);
    expect(t.status).toBe(1);
    expect(cocaLines(t.stderr)).toEqual([`coca: ${state} does not match the checkpoint's manifest (40 bytes, the manifest says ${size}); the folder is mixed or damaged: use another checkpoint of the run (best, last or step-N)`]);
    expect(snapshot(run)).toEqual(before);
  });

  it('weights holding NaN are refused at load, naming the tensor', () => {
    const run = copyRun('nan');
    const ck = path.join(run, 'checkpoints', 'best');
    const file = path.join(ck, 'model.safetensors');
    const bytes = fs.readFileSync(file);
    const n = Number(bytes.readBigUInt64LE(0));
    const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')) as Record<string, { data_offsets: [number, number] }>;
    const at = 8 + n + header['text.token_embedding.weight']!.data_offsets[0] + 4 * 5;
    bytes.writeFloatLE(NaN, at);
    fs.writeFileSync(file, bytes);
    // The manifest agrees with the file: what is refused is the value, not the folder.
    rewriteManifestEntry(ck, 'model.safetensors');
    const before = snapshot(run);
    const c = coca(['caption', picture, '--checkpoint', ck]);
    expect(c.status).toBe(1);
    expect(cocaLines(c.stderr)).toEqual([`coca: ${file}: tensor "text.token_embedding.weight" holds NaN (element 5); the weights are broken: use another checkpoint`]);
    expect(c.stdout).toBe('');
    const t = coca(['train', '--resume', ck, ...SAME]);
    expect(t.status).toBe(1);
    expect(cocaLines(t.stderr)).toEqual([`coca: ${file}: tensor "text.token_embedding.weight" holds NaN (element 5); the weights are broken: use another checkpoint`]);
    expect(snapshot(run)).toEqual(before);
  });

  it('a tokenizer of another vocabulary is refused at load; a folder from before manifests loads with a notice', () => {
    const run = copyRun('tokenizer');
    const ck = path.join(run, 'checkpoints', 'best');
    // An older checkpoint (no manifest) whose tokenizer.json was swapped for another model's.
    fs.rmSync(path.join(ck, 'manifest.json'), { force: true });
    const own = fs.readFileSync(path.join(ck, 'tokenizer.json'));
    const foreign = trainTokenizer(['a red square', 'a blue circle', 'a dog on a surfboard'], 300);
    expect(foreign.vocabSize).not.toBe(1024);
    fs.writeFileSync(path.join(ck, 'tokenizer.json'), JSON.stringify(foreign.json));
    const notice = `coca: note: ${ck} has no manifest.json (written before coca checked its checkpoints); its files are loaded unverified`;
    const before = snapshot(run);
    const c = coca(['caption', picture, '--checkpoint', ck]);
    expect(c.status).toBe(1);
    expect(cocaLines(c.stderr)).toEqual([
      notice,
      `coca: ${path.join(ck, 'tokenizer.json')} has a vocabulary of ${foreign.vocabSize} tokens but the model's is 1024; it belongs to another model: use the tokenizer.json saved with this checkpoint`,
    ]);
    expect(c.stdout).toBe('');
    expect(snapshot(run)).toEqual(before);
    // With its own tokenizer back, the older folder loads, with the notice.
    fs.writeFileSync(path.join(ck, 'tokenizer.json'), own);
    const ok = coca(['caption', picture, '--checkpoint', ck, '--beams', '1', '--max-len', '4']);
    expect(ok.status, ok.stderr).toBe(0);
    expect(cocaLines(ok.stderr)).toEqual([notice]);
    expect(ok.stdout).toMatch(/red\.png\t/);
  });
});

describe('coca train --resume continues the run as it was', () => {
  it("an option contradicting the run's record is refused, and accepted with --override", () => {
    const run = copyRun('contradict');
    const before = snapshot(run);
    const lr = coca(['train', '--resume', run, ...SAME, '--lr', '0.01']);
    expect(lr.status).toBe(1);
    expect(cocaLines(lr.stderr)).toEqual([`coca: --lr 0.01 contradicts the run's 0.001 (${path.join(run, 'run.json')}); drop it to continue the run as it was, or add --override lr to change it`]);
    const steps = coca(['train', '--resume', run, '--config', MICRO, '--batch', '8', '--steps', '8']);
    expect(steps.status).toBe(1);
    expect(cocaLines(steps.stderr)).toEqual([`coca: --steps 8 contradicts the run's 6 (${path.join(run, 'run.json')}); drop it to continue the run as it was, or add --override steps to change it`]);
    const model = coca(['train', '--resume', run, '--preset', 'tiny', '--override', 'preset']);
    expect(model.status).toBe(1);
    expect(cocaLines(model.stderr)).toEqual(['coca: --override preset: the model of a run cannot change; start a new run with --out']);
    const out = coca(['train', '--config', MICRO, '--out', run]);
    expect(out.status).toBe(1);
    expect(cocaLines(out.stderr)).toEqual([`coca: ${run} already holds a run; pick another --out, or --resume ${run} to continue it`]);
    expect(snapshot(run)).toEqual(before);
    // Given again with the recorded value, an option is no contradiction; --override lets one change.
    const more = coca(['train', '--resume', run, '--batch', '8', '--steps', '8', '--override', 'steps']);
    expect(more.status, more.stderr).toBe(0);
    expect(more.stdout).toContain(`resumed from ${path.join(run, 'checkpoints', 'last')} at step 6`);
    const log = fs.readFileSync(path.join(run, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { step: number }).step);
    expect(log).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    const rec = JSON.parse(fs.readFileSync(path.join(run, 'run.json'), 'utf8')) as { steps: number; lr: number; batch: number };
    expect([rec.steps, rec.lr, rec.batch]).toEqual([8, 0.001, 8]);
  });

  it('--resume RUN after a SIGKILL continues in RUN from its newest complete checkpoint', async () => {
    const run = path.join(dir, 'killed');
    const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'coca.js'), 'train', '--config', MICRO, '--steps', '10', '--batch', '8', '--val-every', '100', '--save-every', '1', '--out', run], {
      cwd: dir,
      env: { ...process.env, COCA_TEST_CHECKPOINT_PAUSE_MS: '150' },
      stdio: 'ignore',
    });
    const manifest = path.join(run, 'checkpoints', 'last', 'manifest.json');
    const savedStep = () => {
      try {
        return (JSON.parse(fs.readFileSync(manifest, 'utf8')) as { step: number }).step;
      } catch {
        return 0; // not written yet, or between the old folder's removal and the new one's arrival
      }
    };
    const exited = new Promise((resolve) => child.on('exit', resolve));
    while (savedStep() < 2 && child.exitCode === null) await new Promise((r) => setTimeout(r, 50));
    child.kill('SIGKILL');
    await exited;
    const killedAt = savedStep();
    expect(killedAt).toBeGreaterThanOrEqual(2);
    expect(killedAt).toBeLessThan(10);
    const r = coca(['train', '--resume', run]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`resumed from ${path.join(run, 'checkpoints', '(last|step-\\d+)').replace(/\//g, '\\/')} at step \\d+`));
    const log = fs.readFileSync(path.join(run, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { step: number }).step);
    expect(log).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(savedStep()).toBe(10);
    // It continued in the run's own folder: nothing new beside it, no leftover temporary folder.
    expect(fs.existsSync(path.join(dir, 'runs'))).toBe(false);
    expect(fs.readdirSync(path.join(run, 'checkpoints')).filter((f) => f.startsWith('.'))).toEqual([]);
  });
});
