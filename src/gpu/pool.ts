// A buffer pool with size classes, so a training loop that asks for the same shapes every step
// reuses buffers instead of creating and destroying GPU memory each time.
//
// A request is served by the free buffer of its class made first (the lowest serial), not the one
// released last: the order a step releases its intermediates in then does not matter, so a step
// that asks for the same sizes in the same order gets the same buffers every time, and the
// recorder's bind groups over them (recorder.ts) are made once and reused.
//
// Classes are four per octave (2^k · {1, 1.25, 1.5, 1.75}, from 256 bytes), so a buffer is at most
// 25 % larger than asked. Kernels must therefore size their work from shapes, never from
// `buffer.size`.

export interface PoolStats {
  /** Bytes in buffers handed out and not yet released. */
  inUseBytes: number;
  /** Highest inUseBytes seen since the last resetPeak(). */
  peakInUseBytes: number;
  /** Bytes of every buffer the pool owns (in use and free). */
  reservedBytes: number;
  /** createBuffer calls made by the pool. */
  created: number;
  /** Requests served from a free buffer. */
  reused: number;
}

const MIN_CLASS = 256;
const CLASS_STEPS = [1, 1.25, 1.5, 1.75, 2];

/** The size class (bytes) a request of `bytes` is served from. */
export function sizeClass(bytes: number): number {
  if (bytes <= MIN_CLASS) return MIN_CLASS;
  const octave = 2 ** Math.floor(Math.log2(bytes));
  for (const f of CLASS_STEPS) {
    const c = octave * f;
    if (c >= bytes) return c;
  }
  return octave * 2;
}

interface Owned {
  /** Size class and usage as one number: size · 1024 + usage (usage flags stay below 1024). */
  key: number;
  size: number;
  /** Creation order: free lists hand out the lowest first. */
  serial: number;
}

export class BufferPool {
  /** Free buffers by class, in descending serial order (pop() gives the lowest). */
  private free = new Map<number, GPUBuffer[]>();
  private freeSet = new Set<GPUBuffer>();
  private owned = new Map<GPUBuffer, Owned>();
  private serials = 0;
  private stats: PoolStats = { inUseBytes: 0, peakInUseBytes: 0, reservedBytes: 0, created: 0, reused: 0 };

  constructor(
    private readonly device: GPUDevice,
    private readonly onCreate: (label: string, size: number) => void = () => {},
    /** Hears of every buffer the pool is about to destroy (the recorder drops its bind groups). */
    private readonly onDestroy: (buffer: GPUBuffer) => void = () => {},
  ) {}

  acquire(bytes: number, usage: GPUBufferUsageFlags, label: string): GPUBuffer {
    const size = sizeClass(bytes);
    const key = size * 1024 + usage;
    let buffer = this.free.get(key)?.pop();
    if (buffer) {
      this.freeSet.delete(buffer);
      this.stats.reused++;
      buffer.label = label;
    } else {
      this.onCreate(label, size);
      buffer = this.device.createBuffer({ size, usage, label });
      this.owned.set(buffer, { key, size, serial: this.serials++ });
      this.stats.created++;
      this.stats.reservedBytes += size;
    }
    this.stats.inUseBytes += size;
    this.stats.peakInUseBytes = Math.max(this.stats.peakInUseBytes, this.stats.inUseBytes);
    return buffer;
  }

  release(buffer: GPUBuffer): void {
    const entry = this.owned.get(buffer);
    if (!entry) throw new Error(`buffer "${buffer.label}" was not made by this pool`);
    if (this.freeSet.has(buffer)) throw new Error(`buffer "${buffer.label}" released twice`);
    let list = this.free.get(entry.key);
    if (!list) this.free.set(entry.key, (list = []));
    // Keep the list in descending serial order (binary search: a training step frees dozens of one class).
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.owned.get(list[mid]!)!.serial > entry.serial) lo = mid + 1;
      else hi = mid;
    }
    if (lo === list.length) list.push(buffer);
    else list.splice(lo, 0, buffer);
    this.freeSet.add(buffer);
    this.stats.inUseBytes -= entry.size;
  }

  /** Destroys every free buffer (memory goes back to the driver). */
  trim(): void {
    for (const list of this.free.values()) {
      for (const b of list) {
        this.stats.reservedBytes -= this.owned.get(b)!.size;
        this.owned.delete(b);
        this.onDestroy(b);
        b.destroy();
      }
    }
    this.free.clear();
    this.freeSet.clear();
  }

  resetPeak(): void {
    this.stats.peakInUseBytes = this.stats.inUseBytes;
  }

  snapshot(): PoolStats {
    return { ...this.stats };
  }
}
