// Timing of recorded GPU work: warm-up excluded, many repeats, device time from timestamp
// queries where the adapter has them (wall clock otherwise), median of several runs.
import type { Gpu } from '../../src/gpu/gpu.ts';

export interface Timing {
  /** Median milliseconds per call. */
  ms: number;
  /** Calls recorded per timed run. */
  iters: number;
  runs: number;
  /** 'device' = timestamp queries around the pass; 'wall' = clock around submit and wait. */
  clock: 'device' | 'wall';
}

export interface TimingOptions {
  /** Aim for each timed run to last at least this long (ms). */
  minRunMs?: number;
  runs?: number;
  /** Upper bound on calls per run (one compute pass holds them all). */
  maxIters?: number;
  tag: string;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Times `record` (which records one call's dispatches); the first call is the warm-up. */
export async function timeCalls(gpu: Gpu, record: () => void, opts: TimingOptions): Promise<Timing> {
  const minRunMs = opts.minRunMs ?? 300;
  const runs = opts.runs ?? 3;
  const maxIters = opts.maxIters ?? 256;
  // Warm-up: pipeline build and the driver's JIT compile happen on the first dispatch.
  const warm = await gpu.timePass(record, `${opts.tag}:warm`);
  const once = warm.deviceMs ?? warm.wallMs;
  const iters = Math.max(1, Math.min(maxIters, Math.ceil(minRunMs / Math.max(once, 1e-3))));
  const times: number[] = [];
  let clock: Timing['clock'] = 'device';
  // One uncounted run at full length first, so the waiter knows how long a run takes before
  // the counted ones (otherwise the first counted run is awaited without sleeping).
  for (let r = -1; r < runs; r++) {
    const t = await gpu.timePass(() => {
      for (let i = 0; i < iters; i++) record();
    }, opts.tag);
    if (r < 0) continue;
    if (t.deviceMs === null) clock = 'wall';
    times.push((t.deviceMs ?? t.wallMs) / iters);
  }
  return { ms: median(times), iters, runs, clock };
}
