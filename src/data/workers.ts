// A small pool of worker threads preparing loader rows off the main thread, so that resampling
// large batches never delays the thread that records and submits GPU work.
import { Worker } from 'node:worker_threads';
import { DataError } from './errors.ts';
import type { PrepTask } from './prep.ts';
import type { PrepReply, PrepRequest } from './prep-worker.ts';

type Result = PrepReply['results'][number];

export class PrepPool {
  private workers: Worker[] = [];
  private pending = new Map<number, (r: Result[]) => void>();
  private failures = new Map<number, (e: Error) => void>();
  private nextId = 0;
  private turn = 0;

  constructor(readonly size: number) {
    for (let i = 0; i < size; i++) {
      const w = new Worker(new URL('./prep-worker.mjs', import.meta.url));
      // Idle workers must not keep a finished program alive.
      w.unref();
      w.on('message', (m: PrepReply) => {
        this.failures.delete(m.id);
        const done = this.pending.get(m.id);
        this.pending.delete(m.id);
        done?.(m.results);
      });
      w.on('error', (e) => this.failAll(e));
      this.workers.push(w);
    }
  }

  /** Prepares the tasks on the workers (split evenly); results in task order. */
  async run(tasks: PrepTask[]): Promise<Result[]> {
    const chunks = Math.min(this.workers.length, tasks.length);
    const per = Math.ceil(tasks.length / chunks);
    const parts = await Promise.all(
      Array.from({ length: chunks }, (_, k) => {
        const id = this.nextId++;
        const w = this.workers[this.turn++ % this.workers.length]!;
        return new Promise<Result[]>((resolve, reject) => {
          this.pending.set(id, resolve);
          this.failures.set(id, reject);
          w.postMessage({ id, tasks: tasks.slice(k * per, (k + 1) * per) } satisfies PrepRequest);
        });
      }),
    );
    return parts.flat();
  }

  close(): Promise<unknown> {
    return Promise.all(this.workers.map((w) => w.terminate()));
  }

  private failAll(e: Error): void {
    for (const reject of this.failures.values()) reject(new DataError(`a loader worker thread failed: ${e.message.split('\n')[0]}`));
    this.failures.clear();
    this.pending.clear();
  }
}
