// The waiter must not sleep through one slow run (a pipeline's first compile) on later waits: a
// decoding test once slept a quarter of an hour that way. On a simulated clock, so that a loaded machine's
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
  it('does not sleep through a slow first run (a compile) on the waits after it', async () => {
    const clock = new SimulatedClock();
    const w = new IdleWaiter('sleep', clock);
    // First run of a kind: slow (as a JIT compile is), awaited directly.
    const first = clock.submit(2000);
    await w.wait('k', first.at, first.done);
    expect(clock.t).toBe(2000);
    // Then the same kind runs in 20 ms. The second wait is awaited directly too, and the estimate
    // is the faster of the two, so no wait sleeps past the 20 ms of work; with the first run taken
    // as the estimate, they would sleep 1800, 900, 450, … ms.
    const costs: number[] = [];
    for (let i = 0; i < 8; i++) {
      const s = clock.submit(20);
      await w.wait('k', s.at, s.done);
      costs.push(clock.t - s.at);
    }
    for (const c of costs) expect(c).toBeCloseTo(20, 9);
    // From the third wait on it sleeps 0.9 of the 20 ms instead of polling.
    expect(w.slept).toBeCloseTo(7 * 18, 9);
  });

  it('follows work that got slower for good, never sleeping past it', async () => {
    const clock = new SimulatedClock();
    const w = new IdleWaiter('sleep', clock);
    for (let i = 0; i < 3; i++) {
      const s = clock.submit(40);
      await w.wait('k', s.at, s.done);
    }
    const costs: number[] = [];
    for (let i = 0; i < 12; i++) {
      const s = clock.submit(400);
      const slept = w.slept;
      await w.wait('k', s.at, s.done);
      costs.push(clock.t - s.at);
      expect(w.slept - slept).toBeLessThanOrEqual(400);
    }
    // Each wait costs the 400 ms of work (the sleep never passes it), and the sleeps grow to
    // most of it within a dozen waits.
    for (const c of costs) expect(c).toBeCloseTo(400, 9);
    const s = clock.submit(400);
    const slept = w.slept;
    await w.wait('k', s.at, s.done);
    expect(w.slept - slept).toBeGreaterThan(300);
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
