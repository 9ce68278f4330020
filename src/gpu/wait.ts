// Waiting for the GPU without stealing a core.
//
// While any WebGPU promise is pending (onSubmittedWorkDone, mapAsync), dawn.node polls Dawn on
// the JS thread in a tight loop. On a software adapter (lavapipe) that thread competes with the
// driver's own worker threads for the same 2 cores and costs 30-50 % of throughput
// (../shared/research/perf-ceilings.md, observation 1). So before creating the promise we sleep
// (a timer: the thread is idle) for most of the time the same kind of work took last time, and
// only then await. Work of a new kind is awaited directly twice to learn its duration: the first
// wait of a kind often holds a pipeline's first compile (minutes on a loaded software adapter),
// and sleeping 0.9 of that on the next wait, then half of it on the next, and so on, once left a
// decoding test asleep for a quarter of an hour.

export type WaitMode = 'sleep' | 'await';

/** Where the waiter reads the time and sleeps: the real ones, or a test's simulated clock. */
export interface WaitClock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

const realClock: WaitClock = { now: () => performance.now(), sleep: (ms) => new Promise<void>((r) => setTimeout(r, ms)) };

export class IdleWaiter {
  private estimates = new Map<string, number>();
  /** How many waits of each kind were measured. */
  private measured = new Map<string, number>();
  /** Milliseconds spent asleep and awaiting, for reports. */
  slept = 0;
  awaited = 0;

  constructor(
    public mode: WaitMode,
    private readonly clock: WaitClock = realClock,
  ) {}

  /**
   * Waits for work submitted at `submittedAt` (performance.now()) to finish; `tag` names the kind
   * of work (a training step, a bench case) whose duration is learned.
   */
  async wait<T>(tag: string, submittedAt: number, start: () => Promise<T>): Promise<T> {
    const est = this.estimates.get(tag);
    const measured = this.measured.get(tag) ?? 0;
    let slept = false;
    if (this.mode === 'sleep' && est !== undefined && measured >= 2) {
      // Wake a little early: polling the rest costs less than sleeping past the end.
      const remaining = est * 0.9 - (this.clock.now() - submittedAt);
      if (remaining > 1) {
        const t = this.clock.now();
        await this.clock.sleep(remaining);
        this.slept += this.clock.now() - t;
        slept = true;
      }
    }
    const t = this.clock.now();
    const result = await start();
    const now = this.clock.now();
    this.awaited += now - t;
    const took = now - submittedAt;
    let next: number;
    if (est === undefined) next = took;
    else if (measured < 2) next = Math.min(est, took);
    else if (slept && now - t < 1) {
      // Done before we woke: the work took less than we slept, by an unknown amount. Halve the
      // estimate, so one slow run (a pipeline's first JIT compile) costs a few waits, not many.
      next = est * 0.5;
    } else {
      // A much shorter run resets; otherwise follow changes within a few steps. (Capping the growth
      // per wait, against a later wait that holds a new pipeline's compile, made nano's training
      // step ×1.3 slower in `coca bench step`: a step's waits vary more than that, and every wait
      // the estimate falls short of is polled. Such an outlier costs sleeps summing to about half
      // its length, against about twice its length when it is the first wait of its kind.)
      next = took < est * 0.5 ? took : 0.7 * est + 0.3 * took;
    }
    this.estimates.set(tag, next);
    this.measured.set(tag, measured + 1);
    return result;
  }
}

/**
 * The wait mode COCA_WAIT (`v`) asks for, else the one that suits the device: sleep where polling
 * competes with a software adapter for the cores (`pollingCosts`: dawn.node on lavapipe).
 */
export function waitModeFromSetting(v: string | undefined, pollingCosts: boolean): WaitMode {
  if (v === 'sleep' || v === 'await') return v;
  if (v !== undefined && v !== '') throw new Error(`COCA_WAIT=${v} is not a wait mode; use sleep or await`);
  // On a real GPU the JS thread has cores to spare and polling costs nothing measurable.
  return pollingCosts ? 'sleep' : 'await';
}
