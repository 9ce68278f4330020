// The waiter must not keep sleeping long after one slow run (a pipeline's first compile): it
// learns quickly that work of a kind got faster. On a simulated clock, so that a loaded machine's
// late timers cannot decide the outcome (the real-timer version failed a CI run under load).
import { describe, expect, it } from 'vitest';
import { IdleWaiter, type WaitClock } from '../../src/gpu/wait.ts';

/** Time moves only when the waiter sleeps or awaits work that has not finished yet. */
class SimulatedClock implements WaitClock {
  t = 0;
  now(): number {
    return this.t;
  }
  async sleep(ms: number): Promise<void> {
    this.t += ms;
  }
  /** Work of `ms` submitted now: it runs whether or not anyone awaits it, as GPU work does. */
  submit(ms: number): { at: number; done: () => Promise<void> } {
    const at = this.t;
    return {
      at,
      done: async () => {
        this.t = Math.max(this.t, at + ms);
      },
    };
  }
}

describe('IdleWaiter', () => {
  it('recovers within a few waits after one slow run', async () => {
    const clock = new SimulatedClock();
    const w = new IdleWaiter('sleep', clock);
    // First run of a kind: slow (as a JIT compile is), awaited directly.
    const first = clock.submit(200);
    await w.wait('k', first.at, first.done);
    expect(clock.t).toBe(200);
    // Then the same kind runs in 2 ms. Each wait sleeps 0.9 of the estimate (200, 100, 50, …),
    // finds the work done and halves the estimate; a wait costs its sleep or the 2 ms of work,
    // whichever is longer.
    const costs: number[] = [];
    for (let i = 0; i < 8; i++) {
      const s = clock.submit(2);
      await w.wait('k', s.at, s.done);
      costs.push(clock.t - s.at);
    }
    const expected = [180, 90, 45, 22.5, 11.25, 5.625, 2.8125, 2];
    for (const [i, c] of costs.entries()) expect(c).toBeCloseTo(expected[i]!, 9);
    expect(costs.slice(-3).every((c) => c < 30)).toBe(true);
    // Without the halving (the estimate following the runs that took as long as it slept) every
    // wait would cost ~180 ms.
    expect(costs.reduce((a, b) => a + b, 0)).toBeLessThan(600);
  });

  it('sleeps through most of a steady run instead of awaiting it', async () => {
    const clock = new SimulatedClock();
    const w = new IdleWaiter('sleep', clock);
    for (let i = 0; i < 5; i++) {
      const s = clock.submit(40);
      await w.wait('k', s.at, s.done);
    }
    const slept = w.slept;
    const awaited = w.awaited;
    const s = clock.submit(40);
    await w.wait('k', s.at, s.done);
    // Asleep for 0.9 of the learned 40 ms, then the last 4 ms awaited.
    expect(w.slept - slept).toBeCloseTo(36, 9);
    expect(w.awaited - awaited).toBeCloseTo(4, 9);
  });

  it('awaits directly in await mode', async () => {
    const clock = new SimulatedClock();
    const w = new IdleWaiter('await', clock);
    for (let i = 0; i < 3; i++) {
      const s = clock.submit(40);
      await w.wait('k', s.at, s.done);
    }
    expect(w.slept).toBe(0);
    expect(w.awaited).toBe(120);
  });
});
