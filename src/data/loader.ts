// Batches of fixed shape for training and evaluation (loader-core.ts), with Node's means of
// preparing them: pictures read from the files a dataset names (readSource), in worker threads
// on machines with cores to spare, on this thread between awaits otherwise.
import os from 'node:os';
import type { RgbImage } from './image.ts';
import { BatchLoaderCore, type BatchLoaderOptions, type RowResult } from './loader-core.ts';
import type { Dataset } from './dataset.ts';
import { readSource } from './prep.ts';
import { PrepPool } from './workers.ts';

export type { Batch, BatchLoaderOptions, LoaderState, StreamPosition } from './loader-core.ts';

export function defaultWorkers(): number {
  const cores = os.availableParallelism();
  return cores >= 4 ? Math.min(4, cores - 2) : 0;
}

export class BatchLoader extends BatchLoaderCore {
  private pool: PrepPool | undefined;

  constructor(dataset: Dataset, options: BatchLoaderOptions) {
    const workers = options.workers ?? defaultWorkers();
    super(dataset, { ...options, workers });
    if (workers > 0 && dataset.source) this.pool = new PrepPool(workers);
  }

  /** Stops the worker threads (they never keep the program alive, but hold memory). */
  override async close(): Promise<void> {
    await this.pool?.close();
    this.pool = undefined;
  }

  protected override async prepare(rows: number[], indices: Uint32Array, captions: string[], langs: string[], epoch: number, start: number, images: Float32Array): Promise<RowResult[]> {
    const d = this.dataset;
    if (!this.pool || !d.source) return super.prepare(rows, indices, captions, langs, epoch, start, images);
    const plane = 3 * this.opts.preprocess.size * this.opts.preprocess.size;
    const tasks = this.tasks(rows, indices, captions, langs, epoch, start);
    const results = await this.pool.run(tasks.map((t, k) => ({ ...t, source: d.source!(indices[rows[k]!]!) })));
    return results.map((res, k) => {
      if (!res.ok) return res;
      images.set(res.data, rows[k]! * plane);
      return { ok: true };
    });
  }

  protected override picture(i: number, mode: 'train' | 'eval'): Promise<RgbImage> {
    const d = this.dataset;
    return d.source ? readSource(d.source(i), this.opts.train, this.opts.preprocess) : d.image(i, mode);
  }
}
