// Per-dispatch device time (Gpu.enableProfiling()): each dispatch gets a compute pass of its own
// with timestamps at both ends; at submit the timestamps are resolved into a buffer read back
// later, and the time is summed per kernel (or per dispatch label).
import type { BufferPool } from './pool.ts';

export interface ProfileEntry {
  ms: number;
  count: number;
}

export class DispatchProfiler {
  readonly totals = new Map<string, ProfileEntry>();
  /** Sum per dispatch label instead of per kernel. */
  byLabel = false;
  private readonly querySet: GPUQuerySet;
  /** Keys of the dispatches recorded since the last submit, in order. */
  private keys: string[] = [];

  constructor(
    device: GPUDevice,
    private readonly pool: BufferPool,
    /** At most this many dispatches per submit. */
    private readonly capacity: number,
  ) {
    this.querySet = device.createQuerySet({ type: 'timestamp', count: 2 * capacity, label: 'coca:profile' });
  }

  /** The timestamp writes of the pass that will hold the next dispatch. */
  timestamps(kernelKey: string, label: string): GPUComputePassTimestampWrites {
    const i = this.keys.length;
    if (i >= this.capacity) throw new Error(`profiler: more than ${this.capacity} dispatches in one submit`);
    this.keys.push(this.byLabel ? label : kernelKey);
    return { querySet: this.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 };
  }

  /**
   * Records the resolve of this submit's timestamps into `encoder`; the returned function, called
   * after the submit, reads them back and adds them to the totals. Null when nothing was timed.
   */
  resolve(encoder: GPUCommandEncoder): (() => Promise<void>) | null {
    const keys = this.keys;
    if (keys.length === 0) return null;
    this.keys = [];
    const bytes = keys.length * 16;
    const resolved = this.pool.acquire(bytes, GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC, 'coca:profile-resolve');
    const staging = this.pool.acquire(bytes, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, 'coca:profile-staging');
    encoder.resolveQuerySet(this.querySet, 0, keys.length * 2, resolved, 0);
    encoder.copyBufferToBuffer(resolved, 0, staging, 0, bytes);
    return async () => {
      await staging.mapAsync(GPUMapMode.READ, 0, bytes);
      const t = new BigUint64Array(staging.getMappedRange(0, bytes).slice(0));
      staging.unmap();
      keys.forEach((k, i) => {
        const e = this.totals.get(k) ?? { ms: 0, count: 0 };
        e.ms += Number(t[2 * i + 1]! - t[2 * i]!) / 1e6;
        e.count++;
        this.totals.set(k, e);
      });
      this.pool.release(resolved);
      this.pool.release(staging);
    };
  }
}
