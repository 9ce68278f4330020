// Fault injection: a short `coca train` run killed with SIGKILL at random moments, half of the
// kills aimed at checkpoint writes (COCA_TEST_CHECKPOINT_PAUSE_MS slows the writer; a kill
// follows the sight of its temporary folder), each followed by `--resume`; and a run whose disk
// fills while it overwrites `last` (a real small tmpfs where the test may mount one, else the
// COCA_TEST_CHECKPOINT_ENOSPC hook). After each, the final weights equal those of an
// uninterrupted run bit for bit.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readManifest, verifyCheckpoint } from '../../src/model/checkpoint-folder.ts';
import { readSafetensors } from '../../src/model/safetensors.ts';
import { testRng } from '../helpers/seed.ts';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const MICRO = path.join(ROOT, 'test', 'fixtures', 'parity_micro.json');
const STEPS = 48;
const KILLS = 20;
const TRAIN = ['train', '--config', MICRO, '--steps', String(STEPS), '--batch', '8', '--val-every', '8', '--keep', '2', '--save-every', '1'];
let dir: string;
let reference: Map<string, Buffer>;

function coca(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'coca.js'), ...args], { encoding: 'utf8', cwd: dir, env: { ...process.env, ...env }, timeout: 300_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function start(args: string[], env: Record<string, string>): { child: ChildProcess; exited: Promise<number | null>; stderr: () => string } {
  const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'coca.js'), ...args], { cwd: dir, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return { child, exited: new Promise((resolve) => child.on('exit', (code) => resolve(code))), stderr: () => stderr };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The tensors of a checkpoint's model.safetensors, as raw bytes by name. */
function weights(ck: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const [name, t] of readSafetensors(path.join(ck, 'model.safetensors')).tensors) out.set(name, Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  return out;
}

function expectSameWeights(ck: string): void {
  const got = weights(ck);
  expect([...got.keys()].sort()).toEqual([...reference.keys()].sort());
  for (const [name, bytes] of reference) expect(got.get(name)!.equals(bytes), name).toBe(true);
}

const leftovers = (run: string): string[] => {
  const d = path.join(run, 'checkpoints');
  return fs.existsSync(d) ? fs.readdirSync(d).filter((f) => f.startsWith('.')) : [];
};

const loggedSteps = (run: string): number[] =>
  fs.existsSync(path.join(run, 'log.jsonl'))
    ? fs
        .readFileSync(path.join(run, 'log.jsonl'), 'utf8')
        .split('\n')
        .filter((l) => l.endsWith('}'))
        .map((l) => (JSON.parse(l) as { step: number }).step)
    : [];

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-faults-'));
  const r = coca([...TRAIN, '--out', path.join(dir, 'straight')]);
  expect(r.status, r.stderr).toBe(0);
  reference = weights(path.join(dir, 'straight', 'checkpoints', 'last'));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('crash recovery', () => {
  it(`${KILLS} SIGKILLs at random moments, many inside checkpoint writes, each resumed: the final weights equal an uninterrupted run's`, async () => {
    const rng = testRng();
    const run = path.join(dir, 'killed');
    const t0 = performance.now();
    let kills = 0;
    let inWrites = 0;
    while (kills < KILLS) {
      const from = Math.max(0, ...loggedSteps(run));
      // Folders left by the previous kill: the resumed process tidies them; only new ones count.
      const before = new Set(leftovers(run));
      const fresh = () => leftovers(run).filter((f) => !before.has(f) && /\.(tmp|old)-/.test(f));
      // Killed before it recorded its options, a run is simply started again.
      const args = fs.existsSync(path.join(run, 'run.json')) ? ['train', '--resume', run] : [...TRAIN, '--out', run];
      const { child, exited } = start(args, { COCA_TEST_CHECKPOINT_PAUSE_MS: '40' });
      let done = false;
      void exited.then(() => (done = true));
      if (rng.next() < 0.5) {
        // Aimed: kill while a checkpoint is being written, at a random point of the write.
        while (!done && fresh().length === 0) await sleep(5);
        await sleep(rng.int(200));
      } else {
        // Anywhere: once training has moved on (or from the start), after a random delay.
        if (rng.next() < 0.8) while (!done && Math.max(0, ...loggedSteps(run)) <= from) await sleep(10);
        await sleep(rng.int(600));
      }
      if (done) break;
      child.kill('SIGKILL');
      await exited;
      kills++;
      if (fresh().length > 0) inWrites++;
    }
    const r = coca(['train', '--resume', run]);
    expect(r.status, r.stderr).toBe(0);
    const seconds = (performance.now() - t0) / 1000;
    console.log(`fault injection: ${kills} SIGKILLs, ${inWrites} of them during a checkpoint write, ${seconds.toFixed(0)} s`);
    expect(kills).toBe(KILLS);
    expect(inWrites).toBeGreaterThanOrEqual(5);
    expect(loggedSteps(run)).toEqual(Array.from({ length: STEPS }, (_, i) => i + 1));
    expect(leftovers(run)).toEqual([]);
    expectSameWeights(path.join(run, 'checkpoints', 'last'));
  });

  it('a disk that fills while last is overwritten stops training in one line with last whole; --resume then finishes the run exactly', async () => {
    const mnt = path.join(dir, 'small-disk');
    fs.mkdirSync(mnt);
    // COCA_TEST_NO_MOUNT=1 takes the fallback path where mounting works too (to check it).
    const mounted = !process.env.COCA_TEST_NO_MOUNT && spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', mnt]).status === 0;
    const run = path.join(mnt, 'run');
    try {
      let failed: { status: number | null; stderr: string };
      let overwritten = 'last';
      if (mounted) {
        // A real full disk: fill it as soon as an overwrite of last has begun.
        const { child, exited, stderr } = start([...TRAIN, '--out', run], { COCA_TEST_CHECKPOINT_PAUSE_MS: '100' });
        const manifest = path.join(run, 'checkpoints', 'last', 'manifest.json');
        while (!fs.existsSync(manifest) && child.exitCode === null) await sleep(5);
        while (!leftovers(run).some((f) => f.startsWith('.last.tmp-')) && child.exitCode === null) await sleep(2);
        const fd = fs.openSync(path.join(mnt, 'filler'), 'w');
        try {
          const chunk = Buffer.alloc(1 << 16, 1);
          for (;;) fs.writeSync(fd, chunk);
        } catch (e) {
          expect((e as NodeJS.ErrnoException).code).toBe('ENOSPC');
        } finally {
          fs.closeSync(fd);
        }
        failed = { status: await exited, stderr: stderr() };
      } else {
        // No mount here: stop the run once last exists, then let the hook fail its next checkpoint write (last, or best/step-N where validation comes first).
        overwritten = '(last|best|step-\\d+)';
        const partial = start([...TRAIN, '--out', run], {});
        const manifest = path.join(run, 'checkpoints', 'last', 'manifest.json');
        while (!fs.existsSync(manifest) && partial.child.exitCode === null) await sleep(5);
        partial.child.kill('SIGKILL');
        await partial.exited;
        failed = coca(['train', '--resume', run], { COCA_TEST_CHECKPOINT_ENOSPC: '1' });
      }
      console.log(`disk full during an overwrite of last: ${mounted ? 'a 16 MB tmpfs filled up' : 'injected ENOSPC (no mount allowed)'}`);
      expect(failed.status).toBe(1);
      const lines = failed.stderr.split('\n').filter((l) => l.startsWith('coca: '));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(
        new RegExp(`^coca: ${run}/checkpoints/${overwritten}: cannot write the checkpoint \\(ENOSPC while writing [a-z.]+\\); the previous checkpoint there is untouched; training stopped at step \\d+: make room and continue with --resume ${run}$`),
      );
      expect(leftovers(run)).toEqual([]);
      const last = path.join(run, 'checkpoints', 'last');
      expect(() => verifyCheckpoint(last, () => {})).not.toThrow();
      expect(readManifest(last)!.step).toBeLessThan(Number(/at step (\d+)/.exec(lines[0]!)![1]) + 1);
      fs.rmSync(path.join(mnt, 'filler'), { force: true });
      const r = coca(['train', '--resume', run]);
      expect(r.status, r.stderr).toBe(0);
      expect(loggedSteps(run)).toEqual(Array.from({ length: STEPS }, (_, i) => i + 1));
      expectSameWeights(path.join(run, 'checkpoints', 'last'));
    } finally {
      if (mounted) spawnSync('umount', [mnt]);
    }
  });
});
