// The loader's worker-thread pool (src/data/workers.ts): tasks split over the threads and the
// results handed back in task order, none lost or repeated, whatever the split; a thread's failure
// rejects what is waiting on the pool in one line. Each stored picture is one colour per channel,
// so its tensor is (v / 255 − mean) / std everywhere, worked out here.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_AUGMENT } from '../../../src/data/augment.ts';
import { DataError } from '../../../src/data/errors.ts';
import type { PrepTask } from '../../../src/data/prep.ts';
import { PrepPool } from '../../../src/data/workers.ts';
import { tempDir, testPreprocess } from '../data/fixtures.ts';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
// One pool for the file: each thread compiles the TypeScript it runs, seconds apiece.
let pool: PrepPool;
beforeAll(() => {
  pool = new PrepPool(3);
});

const SIDE = 4;
const pre = testPreprocess(SIDE);
/** Item i's channel c is 20i + 7c + 3. */
const value = (i: number, c: number) => 20 * i + 7 * c + 3;

function stored(n: number): string {
  const dir = tempDir('coca-pool-');
  dirs.push(dir);
  const file = path.join(dir, 'train.4px.u8');
  const data = new Uint8Array(n * SIDE * SIDE * 3);
  for (let i = 0; i < n; i++) for (let p = 0; p < SIDE * SIDE; p++) for (let c = 0; c < 3; c++) data[(i * SIDE * SIDE + p) * 3 + c] = value(i, c);
  fs.writeFileSync(file, data);
  return file;
}
const task = (file: string, index: number): PrepTask => ({ source: { kind: 'stored', file, index, side: SIDE }, train: false, seed: 0, noFlip: false, augment: DEFAULT_AUGMENT, pre });
/** The item a result tensor is, read from its first value per channel, after checking each plane is constant. */
function itemOf(data: Float32Array): number {
  const plane = SIDE * SIDE;
  const per = [0, 1, 2].map((c) => {
    const v = data[c * plane]!;
    expect(data.subarray(c * plane, (c + 1) * plane).every((x) => x === v)).toBe(true);
    return Math.round(((v * pre.std[c]! + pre.mean[c]!) * 255 - 7 * c - 3) / 20) + 0;
  });
  expect(new Set(per).size).toBe(1);
  expect(data[0]).toBeCloseTo((value(per[0]!, 0) / 255 - 0.5) / 0.25, 5);
  return per[0]!;
}

describe('PrepPool', () => {
  it('hands back one result per task, in task order, for counts that do and do not divide evenly', async () => {
    const file = stored(8);
    expect(pool.size).toBe(3);
    for (const idx of [[0, 1, 2, 3, 4, 5, 6], [7, 2], [5], [1, 3, 5, 7, 0, 2], []]) {
      const res = await pool.run(idx.map((i) => task(file, i)));
      expect(res.length).toBe(idx.length);
      expect(
        res.map((r) => {
          if (!r.ok) throw new Error(r.message);
          return itemOf(r.data);
        }),
      ).toEqual(idx);
    }
  });

  it('a picture that cannot be read is its own failed result; the others are unaffected', async () => {
    const file = stored(2);
    const res = await pool.run([task(file, 1), { ...task(file, 0), source: { kind: 'file', path: path.join(path.dirname(file), 'missing.png') } }, task(file, 0)]);
    expect(res.map((r) => r.ok)).toEqual([true, false, true]);
    expect(res[1]!.ok ? '' : res[1]!.message).toMatch(/missing\.png/);
  });

  it("a worker thread's error rejects every waiting run with one line, naming no stack", async () => {
    const file = stored(4);
    const workers = (pool as unknown as { workers: { emit(e: string, x: unknown): void }[] }).workers;
    const waiting = pool.run([0, 1, 2, 3].map((i) => task(file, i)));
    workers[1]!.emit('error', new Error('thread died\n    at somewhere (x.ts:1:1)'));
    const err = await waiting.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DataError);
    expect((err as Error).message).toBe('a loader worker thread failed: thread died');
    // The replies of that run arrive later and are dropped; the pool serves the next run.
    await new Promise((r) => setTimeout(r, 1500));
    const res = await pool.run([task(file, 3), task(file, 2)]);
    expect(res.map((r) => (r.ok ? itemOf(r.data) : -1))).toEqual([3, 2]);
  });

  it('close stops every thread', async () => {
    const workers = (pool as unknown as { workers: { threadId: number }[] }).workers;
    expect(workers.every((w) => w.threadId > 0)).toBe(true);
    await pool.close();
    expect(workers.map((w) => w.threadId)).toEqual([-1, -1, -1]);
  });
});
