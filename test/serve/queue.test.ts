// The GPU queue without a GPU: batches form from one group only, a lone job waits at most the
// window, a full queue or a job that cannot start in time is refused with a Retry-After.
import { describe, expect, it } from 'vitest';
import { BusyError, GpuQueue } from '../../src/serve/queue.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('GpuQueue', () => {
  it('batches jobs of one group up to maxBatch, keeps groups apart, runs one batch at a time', async () => {
    const q = new GpuQueue({ maxBatch: 3, windowMs: 20, maxWaitMs: 5000, maxQueue: 100 });
    const seen: string[][] = [];
    let running = 0;
    const run = async (ps: string[]) => {
      expect(++running).toBe(1);
      seen.push(ps);
      await sleep(10);
      running--;
      return ps.map((p) => p.toUpperCase());
    };
    const out = await Promise.all(['a1', 'a2', 'b1', 'a3', 'a4', 'b2'].map((p) => q.submit(p[0]!, p, run)));
    expect(out).toEqual(['A1', 'A2', 'B1', 'A3', 'A4', 'B2']);
    expect(seen).toEqual([['a1', 'a2', 'a3'], ['b1', 'b2'], ['a4']]);
    expect(q.stats()).toMatchObject({ batches: 3, jobs: 6, waiting: 0 });
  });

  it('a lone job starts after the window, not later; unbatchable jobs run alone', async () => {
    const q = new GpuQueue({ maxBatch: 8, windowMs: 15, maxWaitMs: 5000, maxQueue: 100 });
    const t0 = performance.now();
    await q.submit('g', 1, async (ps: number[]) => ps);
    expect(performance.now() - t0).toBeLessThan(200);
    const sizes: number[] = [];
    await Promise.all([1, 2, 3].map((p) => q.submit('t', p, async (ps: number[]) => (sizes.push(ps.length), ps), false)));
    expect(sizes).toEqual([1, 1, 1]);
  });

  it('refuses when full, and when a job waits past maxWaitMs, with a Retry-After', async () => {
    const q = new GpuQueue({ maxBatch: 1, windowMs: 0, maxWaitMs: 40, maxQueue: 2 });
    const slow = async (ps: number[]) => (await sleep(150), ps);
    const first = q.submit('g', 1, slow);
    await sleep(5);
    const waiting = [q.submit('g', 2, slow), q.submit('g', 3, slow)];
    await expect(q.submit('g', 4, slow)).rejects.toThrow(/GPU queue is full \(2 requests waiting\)/);
    for (const w of waiting) {
      const e = await w.catch((x: unknown) => x);
      expect(e).toBeInstanceOf(BusyError);
      expect((e as BusyError).message).toMatch(/waited 40 ms for the GPU without starting/);
      expect((e as BusyError).retryAfterS).toBeGreaterThanOrEqual(1);
    }
    expect(await first).toBe(1);
    expect(q.stats().refused).toBe(3);
  });
});
