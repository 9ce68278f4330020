// The waiter must not keep sleeping long after one slow run (a pipeline's first compile): it
// learns quickly that work of a kind got faster.
import { describe, expect, it } from 'vitest';
import { IdleWaiter } from '../../src/gpu/wait.ts';

// Simulated GPU work: it starts when submitted, not when the waiter starts awaiting it.
const work = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const submit = (ms: number) => {
  const done = work(ms);
  return { at: performance.now(), done: () => done };
};

describe('IdleWaiter', () => {
  it('recovers within a few waits after one slow run', async () => {
    const w = new IdleWaiter('sleep');
    // First run of a kind: slow (as a JIT compile is), awaited directly.
    const first = submit(200);
    await w.wait('k', first.at, first.done);
    // Then the same kind runs in ~2 ms; after a few waits each must cost little more than that.
    const costs: number[] = [];
    for (let i = 0; i < 8; i++) {
      const s = submit(2);
      await w.wait('k', s.at, s.done);
      costs.push(performance.now() - s.at);
    }
    expect(costs.slice(-3).every((c) => c < 30)).toBe(true);
    expect(costs.reduce((a, b) => a + b, 0)).toBeLessThan(600);
  });

  it('sleeps through most of a steady run instead of awaiting it', async () => {
    const w = new IdleWaiter('sleep');
    for (let i = 0; i < 5; i++) {
      const s = submit(40);
      await w.wait('k', s.at, s.done);
    }
    const slept = w.slept;
    const s = submit(40);
    await w.wait('k', s.at, s.done);
    expect(w.slept - slept).toBeGreaterThan(20);
  });
});
