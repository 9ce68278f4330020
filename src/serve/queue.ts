// The one GPU device of the process serves every request, one batch at a time: interleaving two
// requests' dispatches and readbacks would only make both slower, and recording from two async
// tasks at once would mix their command streams. Jobs wait in one FIFO; when the device is free,
// the oldest job's group (its search options, say) is taken, with up to `maxBatch` jobs of the
// same group behind it, as one batch. A lone job waits at most `windowMs` for company, and only
// while the device is idle: under load the queue fills while a batch runs, so batches grow and
// throughput grows with load instead of requests fighting over the device.
import { CocaError } from '../util/errors.ts';

/** The queue cannot take or start the job in time: the HTTP layer answers 503 with Retry-After. */
export class BusyError extends CocaError {
  override name = 'BusyError';
  constructor(
    message: string,
    readonly retryAfterS: number,
  ) {
    super(message);
  }
}

export interface QueueOptions {
  /** Most jobs of one group run together. */
  maxBatch: number;
  /** How long a job may wait for others of its group while the device is idle. */
  windowMs: number;
  /** A job not started within this is refused (BusyError). */
  maxWaitMs: number;
  /** Jobs waiting beyond this are refused at once. */
  maxQueue: number;
}

/** Runs a batch of payloads of one group; one result per payload, in order. */
export type BatchRunner<P, R> = (payloads: P[]) => Promise<R[]>;

interface Job {
  group: string;
  payload: unknown;
  run: BatchRunner<unknown, unknown>;
  /** Jobs of this group may share a batch (false: text queries, zero-shot: one at a time). */
  batchable: boolean;
  enqueued: number;
  resolve: (r: unknown) => void;
  reject: (e: unknown) => void;
  timer: NodeJS.Timeout;
}

export interface QueueStats {
  waiting: number;
  running: number;
  batches: number;
  jobs: number;
  /** Jobs per batch, over all batches so far. */
  meanBatch: number;
  /** Exponential moving average of a batch's run time (drives Retry-After). */
  batchMs: number;
  refused: number;
}

export class GpuQueue {
  private waiting: Job[] = [];
  private running = 0;
  private busy = false;
  private wake: NodeJS.Timeout | null = null;
  private batches = 0;
  private jobs = 0;
  private refused = 0;
  private batchMs = 50;
  private closed = false;

  constructor(readonly o: QueueOptions) {}

  /** Runs `payload` through `run` in a batch with others of `group`. */
  submit<P, R>(group: string, payload: P, run: BatchRunner<P, R>, batchable = true): Promise<R> {
    if (this.closed) return Promise.reject(new BusyError('the server is shutting down; retry against another instance or later', 5));
    if (this.waiting.length >= this.o.maxQueue) {
      this.refused++;
      return Promise.reject(new BusyError(`the GPU queue is full (${this.waiting.length} requests waiting); retry in a moment`, this.retryAfter()));
    }
    return new Promise<R>((resolve, reject) => {
      const job: Job = {
        group,
        payload,
        run: run as BatchRunner<unknown, unknown>,
        batchable,
        enqueued: performance.now(),
        resolve: resolve as (r: unknown) => void,
        reject,
        timer: setTimeout(() => {
          const i = this.waiting.indexOf(job);
          if (i < 0) return;
          this.waiting.splice(i, 1);
          this.refused++;
          reject(new BusyError(`waited ${this.o.maxWaitMs >= 1000 ? `${(this.o.maxWaitMs / 1000).toFixed(1)} s` : `${this.o.maxWaitMs} ms`} for the GPU without starting; the server is overloaded, retry later`, this.retryAfter()));
        }, this.o.maxWaitMs),
      };
      this.waiting.push(job);
      this.pump();
    });
  }

  /** Seconds until the queue as it is now should have drained. */
  retryAfter(): number {
    const batchesAhead = Math.ceil(this.waiting.length / Math.max(1, this.o.maxBatch)) + 1;
    return Math.max(1, Math.ceil((batchesAhead * this.batchMs) / 1000));
  }

  stats(): QueueStats {
    return {
      waiting: this.waiting.length,
      running: this.running,
      batches: this.batches,
      jobs: this.jobs,
      meanBatch: this.batches ? this.jobs / this.batches : 0,
      batchMs: this.batchMs,
      refused: this.refused,
    };
  }

  /** Refuses new jobs; the waiting and running ones finish. Resolves when the queue is empty. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.waiting.length > 0 || this.busy) await new Promise((r) => setTimeout(r, 10));
  }

  private pump(): void {
    if (this.busy || this.waiting.length === 0) return;
    const head = this.waiting[0]!;
    const same = head.batchable ? this.waiting.filter((j) => j.group === head.group).length : 1;
    const waited = performance.now() - head.enqueued;
    if (head.batchable && same < this.o.maxBatch && waited < this.o.windowMs) {
      // Idle device and a part-filled batch: give others of the group a few ms to arrive.
      if (!this.wake) {
        this.wake = setTimeout(() => {
          this.wake = null;
          this.pump();
        }, this.o.windowMs - waited);
      }
      return;
    }
    if (this.wake) {
      clearTimeout(this.wake);
      this.wake = null;
    }
    const batch: Job[] = [];
    for (const j of this.waiting) {
      if (batch.length >= (head.batchable ? this.o.maxBatch : 1)) break;
      if (j.group === head.group && j.batchable === head.batchable) batch.push(j);
    }
    this.waiting = this.waiting.filter((j) => !batch.includes(j));
    for (const j of batch) clearTimeout(j.timer);
    this.busy = true;
    this.running = batch.length;
    void this.runBatch(batch);
  }

  private async runBatch(batch: Job[]): Promise<void> {
    const t0 = performance.now();
    try {
      const results = await batch[0]!.run(batch.map((j) => j.payload));
      batch.forEach((j, i) => j.resolve(results[i]));
    } catch (e) {
      for (const j of batch) j.reject(e);
    } finally {
      this.batchMs = 0.8 * this.batchMs + 0.2 * (performance.now() - t0);
      this.batches++;
      this.jobs += batch.length;
      this.busy = false;
      this.running = 0;
      this.pump();
    }
  }
}
