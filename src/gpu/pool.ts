// A buffer pool with size classes, so a training loop that asks for the same shapes every step
// reuses buffers instead of creating and destroying GPU memory each time.
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

/** The size class (bytes) a request of `bytes` is served from. */
export function sizeClass(bytes: number): number {
  if (bytes <= MIN_CLASS) return MIN_CLASS;
  const octave = 2 ** Math.floor(Math.log2(bytes));
  for (const f of [1, 1.25, 1.5, 1.75, 2]) {
    const c = octave * f;
    if (c >= bytes) return c;
  }
  return octave * 2;
}

export class BufferPool {
  private free = new Map<string, GPUBuffer[]>();
  private owned = new Map<GPUBuffer, { key: string; size: number }>();
  private stats: PoolStats = { inUseBytes: 0, peakInUseBytes: 0, reservedBytes: 0, created: 0, reused: 0 };

  constructor(
    private readonly device: GPUDevice,
    private readonly onCreate: (label: string, size: number) => void = () => {},
  ) {}

  acquire(bytes: number, usage: GPUBufferUsageFlags, label: string): GPUBuffer {
    const size = sizeClass(bytes);
    const key = `${usage}:${size}`;
    let buffer = this.free.get(key)?.pop();
    if (buffer) {
      this.stats.reused++;
      buffer.label = label;
    } else {
      this.onCreate(label, size);
      buffer = this.device.createBuffer({ size, usage, label });
      this.owned.set(buffer, { key, size });
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
    const list = this.free.get(entry.key) ?? [];
    if (list.includes(buffer)) throw new Error(`buffer "${buffer.label}" released twice`);
    list.push(buffer);
    this.free.set(entry.key, list);
    this.stats.inUseBytes -= entry.size;
  }

  /** Destroys every free buffer (memory goes back to the driver). */
  trim(): void {
    for (const list of this.free.values()) {
      for (const b of list) {
        this.stats.reservedBytes -= this.owned.get(b)!.size;
        this.owned.delete(b);
        b.destroy();
      }
    }
    this.free.clear();
  }

  resetPeak(): void {
    this.stats.peakInUseBytes = this.stats.inUseBytes;
  }

  snapshot(): PoolStats {
    return { ...this.stats };
  }
}
