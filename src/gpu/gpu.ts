// The one GPU device of a process: adapter and limits, features, device-loss and error
// handling, transfers, readback that waits without polling (wait.ts), timing, and the buffer pool
// (pool.ts); kernels are built by pipelines.ts and recorded by recorder.ts. Everything above
// src/gpu goes through this. Where it runs (Node with Dawn, or a browser) is the host's business
// (host.ts): `#gpu-host` is resolved to one of the two when the program is loaded or bundled.
import { host } from '#gpu-host';
import { DeviceLostError, GpuRuntimeError, ShaderError } from './errors.ts';
import { Pipelines, type Kernel, type KernelSpec } from './pipelines.ts';
import { BufferPool } from './pool.ts';
import type { ProfileEntry } from './profiler.ts';
import { Recorder, UNIFORM_SLOT, type Binding } from './recorder.ts';
import type { BackendChoice, BackendName } from './host.ts';
import { readSubgroupMatrixConfigs, type SubgroupMatrixConfig } from './subgroup-matrix.ts';
import { IdleWaiter, waitModeFromSetting, type WaitMode } from './wait.ts';

export type { BindingKind, Kernel, KernelSpec } from './pipelines.ts';
export type { Binding } from './recorder.ts';

export type FeatureName = 'subgroups' | 'shader-f16' | 'timestamp-query' | 'chromium-experimental-subgroup-matrix';
// The last is listed only by an adapter opened with unsafe APIs allowed (backend.ts decides).
/**
 * Dispatches recorded before they are submitted, even with more to come: the device starts on a
 * step's first kernels while JS records the rest, where one submit at the end left it idle through
 * all of the recording (20–40 ms of a training step on lavapipe). `A='' B='COCA_FLUSH_EVERY=32'
 * STEPS=16 npx tsx scripts/ab-step.ts tiny` (steps alternating in one process, per-pair ratios):
 * 32 0.96 (quartiles 0.94–1.02), 16 0.93 (0.82–1.06), 40 0.98, 64 0.98; nano at 32 0.99 (0.90–1.16).
 * A decoding step (~20 dispatches) still goes in one. COCA_FLUSH_EVERY overrides it.
 */
const FLUSH_EVERY = 32;
const WANTED_FEATURES: FeatureName[] = ['subgroups', 'shader-f16', 'timestamp-query', 'chromium-experimental-subgroup-matrix'];

export interface AdapterSummary {
  backend: BackendName;
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  isFallbackAdapter: boolean;
  subgroupMinSize: number;
  subgroupMaxSize: number;
  features: string[];
  limits: Record<string, number>;
  /** Subgroup-matrix shapes and types the adapter reports (empty without the feature). */
  subgroupMatrixConfigs: SubgroupMatrixConfig[];
}

/**
 * Whether the adapter runs on the CPU (a fallback adapter, Mesa's lavapipe or llvmpipe): kernels
 * pick other variants there, and the JS thread sleeps while it waits (src/gpu/wait.ts). Some
 * such adapters say so only in their name. The one test of it, for both uses.
 */
export function isSoftware(a: Pick<AdapterSummary, 'isFallbackAdapter' | 'architecture' | 'device' | 'description'>): boolean {
  return a.isFallbackAdapter || a.architecture === 'software' || /llvmpipe|lavapipe/i.test(a.device + a.description);
}


export interface GpuOptions {
  backend?: BackendChoice;
  wait?: WaitMode;
}

export class Gpu {
  readonly pool: BufferPool;
  readonly waiter: IdleWaiter;
  readonly features: ReadonlySet<FeatureName>;
  readonly limits: GPUSupportedLimits;
  /** Subgroup size when the adapter has one fixed size, else 0. */
  readonly subgroupSize: number;
  readonly software: boolean;
  /** Number of GPU submits so far (tests check that hot paths batch their work). */
  submits = 0;
  /** Running totals for `coca bench step` and the tests that count a step's work: dispatches recorded, reads back to the CPU and their bytes. */
  readonly counters = { dispatches: 0, reads: 0, bytesRead: 0 };
  /** Dispatches recorded since the last completed wait: what a wait is waiting for. */
  private workSinceWait = 0;

  private failure: Error | null = null;
  private pendingChecks: Promise<unknown>[] = [];
  private destroyed = false;
  private readonly pipelines: Pipelines;
  private readonly recorder: Recorder;
  private dummy: GPUBuffer;

  private constructor(
    readonly device: GPUDevice,
    readonly adapter: AdapterSummary,
    waitMode: WaitMode,
  ) {
    this.limits = device.limits;
    this.features = new Set(WANTED_FEATURES.filter((f) => device.features.has(f)));
    this.subgroupSize =
      this.features.has('subgroups') && adapter.subgroupMinSize === adapter.subgroupMaxSize ? adapter.subgroupMinSize : 0;
    this.software = isSoftware(adapter);
    this.waiter = new IdleWaiter(waitMode);
    this.recorder = new Recorder(device);
    this.pool = new BufferPool(device, undefined, (b) => this.recorder.bindGroups.forget(b));
    this.pipelines = new Pipelines(device, (e) => this.fail(e), (check) => this.pendingChecks.push(check));
    this.dummy = device.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE, label: 'coca:dummy-binding' });

    device.lost.then((info) => {
      if (this.destroyed) return;
      this.failure = new DeviceLostError(
        `GPU device lost (${info.reason || 'unknown'}${info.message ? `: ${info.message.split('\n')[0]}` : ''}); ` +
          `work in flight is gone. Re-run; if it repeats, try smaller batches or COCA_BACKEND=opengl`,
      );
    });
    device.addEventListener('uncapturederror', (ev) => {
      ev.preventDefault();
      this.fail(new GpuRuntimeError(`GPU error outside any scope: ${(ev as GPUUncapturedErrorEvent).error.message.split('\n')[0]}`));
    });
  }

  static async open(options: GpuOptions = {}): Promise<Gpu> {
    const { backend, adapter } = await host.openAdapter(options.backend);
    const requiredLimits: Record<string, number> = {};
    // Ask for everything the adapter offers: Dawn's defaults are lower (16 KiB workgroup memory,
    // 256 invocations) and the fast kernels need more.
    for (const key in adapter.limits) {
      const v = (adapter.limits as unknown as Record<string, number>)[key];
      if (typeof v === 'number') requiredLimits[key] = v;
    }
    const requiredFeatures = WANTED_FEATURES.filter((f) => adapter.features.has(f)) as GPUFeatureName[];
    const device = await adapter.requestDevice({ requiredLimits, requiredFeatures, label: 'coca' });
    const info = adapter.info as GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number };
    const limits: Record<string, number> = {};
    for (const key in device.limits) {
      const v = (device.limits as unknown as Record<string, number>)[key];
      if (typeof v === 'number') limits[key] = v;
    }
    const summary: AdapterSummary = {
      backend,
      vendor: info.vendor,
      architecture: info.architecture,
      device: info.device,
      description: info.description,
      isFallbackAdapter: (info as { isFallbackAdapter?: boolean }).isFallbackAdapter ?? false,
      subgroupMinSize: info.subgroupMinSize ?? 0,
      subgroupMaxSize: info.subgroupMaxSize ?? 0,
      features: [...device.features].sort(),
      limits,
      subgroupMatrixConfigs: device.features.has('chromium-experimental-subgroup-matrix') ? readSubgroupMatrixConfigs(info) : [],
    };
    return new Gpu(device, summary, options.wait ?? waitModeFromSetting(host.setting('COCA_WAIT'), isSoftware(summary) && host.pollsWhileWaiting));
  }

  has(feature: FeatureName): boolean {
    return this.features.has(feature);
  }

  /** A COCA_* setting (a forced kernel variant…): the environment in Node, the page's configuration in a browser. */
  setting(name: string): string | undefined {
    return host.setting(name);
  }

  private fail(err: Error): void {
    // A broken shader also makes every submit that uses it fail ("invalid pipeline"), and that
    // report can arrive first; the shader's own message (file, line, entry point) is the useful one.
    if (!this.failure || (err instanceof ShaderError && this.failure instanceof GpuRuntimeError)) this.failure = err;
  }

  /** Throws the first error recorded so far (device loss, a failed shader, a failed submit). */
  throwIfFailed(): void {
    if (this.failure) throw this.failure;
    if (this.destroyed) throw new DeviceLostError('GPU device already destroyed');
  }

  // ---- pipelines ---------------------------------------------------------------------------

  /**
   * Returns the kernel for `spec`, building it on first use. Building is synchronous (so ops
   * can be recorded without awaiting); a compile error is recorded with its file, line and entry
   * point and thrown at the next sync. `compile()` awaits it instead.
   */
  kernel(spec: KernelSpec): Kernel {
    return this.pipelines.get(spec);
  }

  /**
   * The kernel a launcher names by `key` (family-prefixed, covering everything `spec` depends on),
   * built from `spec()` the first time: what a launcher called on every dispatch uses instead of
   * building a KernelSpec each time.
   */
  kernelBy(key: string, spec: () => KernelSpec): Kernel {
    return this.pipelines.by(key, spec);
  }

  /** Builds a kernel and waits for the result: throws ShaderError on a bad shader. */
  async compile(spec: KernelSpec): Promise<Kernel> {
    const k = this.kernel(spec);
    const err = await k.check;
    if (err) throw err;
    return k;
  }

  // ---- recording ---------------------------------------------------------------------------

  /**
   * Records one dispatch of `kernel` over `workgroups`, with `uniforms` (at most 256 bytes) at
   * binding 0 and `buffers` at bindings 1..n. Work is submitted at the next sync or read, or when
   * enough has been recorded.
   */
  dispatch(kernel: Kernel, uniforms: ArrayBufferView, buffers: Binding[], workgroups: [number, number?, number?], label = kernel.key): void {
    this.throwIfFailed();
    if (uniforms.byteLength > UNIFORM_SLOT) throw new Error(`${label}: uniform block of ${uniforms.byteLength} bytes > ${UNIFORM_SLOT}`);
    if (buffers.length !== kernel.spec.bindings.length) {
      throw new Error(`${label}: ${buffers.length} buffers given, kernel ${kernel.key} binds ${kernel.spec.bindings.length}`);
    }
    const maxWg = this.limits.maxComputeWorkgroupsPerDimension;
    const [x, y = 1, z = 1] = workgroups;
    if (x > maxWg || y > maxWg || z > maxWg) {
      throw new GpuRuntimeError(`${label}: dispatch of ${x}x${y}x${z} workgroups exceeds the adapter's ${maxWg} per dimension`);
    }
    if (x === 0 || y === 0 || z === 0) return;
    if (this.recorder.full || this.recorder.size >= Number(this.setting('COCA_FLUSH_EVERY') ?? FLUSH_EVERY)) this.flush();
    this.recorder.dispatch(kernel, uniforms, buffers, [x, y, z], label, this.limits.maxStorageBufferBindingSize);
    this.workSinceWait++;
    this.counters.dispatches++;
  }

  /** Bind groups created and reused since the device opened, and how many the cache holds (recorder.ts). */
  bindGroupStats(): { created: number; reused: number; cached: number } {
    const c = this.recorder.bindGroups;
    return { ...c.stats, cached: c.size };
  }

  /**
   * The waiter's key for a wait: the caller's tag and the order of magnitude of the work pending,
   * so a read right after a big step does not inherit the step's duration. Null when nothing but
   * copies is pending: then there is nothing worth sleeping through.
   */
  private waitKey(tag: string): string | null {
    const n = this.workSinceWait;
    this.workSinceWait = 0;
    return n === 0 ? null : `${tag}:${Math.round(Math.log2(n))}`;
  }

  /** A storage buffer no kernel reads, for optional bindings left unused. */
  get unused(): GPUBuffer {
    return this.dummy;
  }

  /** Submits what has been recorded. Does not wait. */
  flush(): number {
    this.throwIfFailed();
    const s = this.recorder.submit();
    if (!s) return performance.now();
    this.submits++;
    if (s.profiled) this.pendingChecks.push(s.profiled);
    this.pendingChecks.push(
      Promise.all([s.validation, s.oom]).then(([v, o]) => {
        const err = o ?? v;
        if (!err) return;
        const kinds = [...new Set(s.what)].slice(0, 6).join(', ');
        const kind = o ? 'out of GPU memory' : 'GPU validation error';
        this.fail(new GpuRuntimeError(`${kind} while running ${kinds || 'copies'}: ${err.message.split('\n')[0]}`));
      }),
    );
    return performance.now();
  }

  /** Times every dispatch from now on (slower: one pass per dispatch); see profile(). */
  enableProfiling(opts: { byLabel?: boolean } = {}): void {
    if (!this.has('timestamp-query')) throw new GpuRuntimeError('profiling needs the timestamp-query feature, which this adapter lacks');
    this.flush();
    this.recorder.enableProfiling(this.pool, opts.byLabel ?? false);
  }

  /** Device milliseconds and dispatch counts per kernel since profiling began (after a sync). */
  profile(): Map<string, ProfileEntry> {
    return new Map(this.recorder.profiler?.totals ?? []);
  }

  /** Waits until everything recorded so far has run; throws any GPU error met on the way. */
  async sync(tag = 'sync'): Promise<void> {
    const at = this.flush();
    const key = this.waitKey(tag);
    await (key ? this.waiter.wait(key, at, () => this.device.queue.onSubmittedWorkDone()) : this.device.queue.onSubmittedWorkDone());
    await this.settleChecks();
  }

  private async settleChecks(): Promise<void> {
    const checks = this.pendingChecks;
    this.pendingChecks = [];
    await Promise.all(checks);
    this.throwIfFailed();
  }

  // ---- transfers ---------------------------------------------------------------------------

  write(buffer: GPUBuffer, data: ArrayBufferView, offsetBytes = 0): void {
    this.throwIfFailed();
    // Ordered after the dispatches recorded so far, as a program reads.
    if (!this.recorder.empty) this.flush();
    this.device.queue.writeBuffer(buffer, offsetBytes, data.buffer, data.byteOffset, data.byteLength);
  }

  /** Records a buffer-to-buffer copy, ordered after the dispatches recorded so far. */
  copy(src: GPUBuffer, dst: GPUBuffer, bytes: number, srcOffset = 0, dstOffset = 0): void {
    this.throwIfFailed();
    this.recorder.commandEncoder().copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
    this.recorder.note(`copy(${src.label} → ${dst.label})`);
  }

  /** Records zeroing `bytes` of `buffer` from `offsetBytes` (multiples of 4), ordered like copy: no dispatch, no flush. */
  clear(buffer: GPUBuffer, bytes: number, offsetBytes = 0): void {
    this.throwIfFailed();
    this.recorder.commandEncoder().clearBuffer(buffer, offsetBytes, bytes);
    this.recorder.note(`clear(${buffer.label})`);
  }

  /** A pooled storage buffer holding `data`. */
  upload(data: Float32Array | Uint32Array | Int32Array, label: string): GPUBuffer {
    const b = this.pool.acquire(Math.max(4, data.byteLength), GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST, label);
    this.write(b, data);
    return b;
  }

  /** A pooled storage buffer of `floats` float32s (contents undefined). */
  alloc(floats: number, label: string): GPUBuffer {
    return this.pool.acquire(Math.max(4, floats * 4), GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST, label);
  }

  release(buffer: GPUBuffer): void {
    this.pool.release(buffer);
  }

  /** Copies `bytes` from `buffer` back to the CPU after all recorded work has run. */
  async readBytes(buffer: GPUBuffer, bytes = buffer.size, offset = 0, tag = 'read'): Promise<ArrayBuffer> {
    const [out] = await this.readLater([{ buffer, bytes, offset }], tag)();
    return out!;
  }

  /**
   * Records copies of `parts` into one staging buffer and submits them with everything recorded so
   * far, but does not wait: the function returned waits (as readBytes does) and gives each part's
   * bytes. Work recorded in between keeps the device busy while this waits its turn (pipelined
   * decoding, src/infer/greedy-device.ts). Call the function once.
   */
  readLater(parts: readonly { buffer: GPUBuffer; bytes: number; offset?: number }[], tag = 'read'): () => Promise<ArrayBuffer[]> {
    const sizes = parts.map((p) => Math.ceil(p.bytes / 4) * 4);
    const size = Math.max(4, sizes.reduce((a, b) => a + b, 0));
    this.counters.reads++;
    this.counters.bytesRead += size;
    const staging = this.pool.acquire(size, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, `staging(${parts.map((p) => p.buffer.label).join(', ')})`);
    let at = 0;
    parts.forEach((p, i) => {
      this.recorder.commandEncoder().copyBufferToBuffer(p.buffer, p.offset ?? 0, staging, at, sizes[i]!);
      this.recorder.note(`read(${p.buffer.label})`);
      at += sizes[i]!;
    });
    const submitted = this.flush();
    const key = this.waitKey(tag);
    return async () => {
      try {
        const map = () => staging.mapAsync(GPUMapMode.READ, 0, size);
        await (key ? this.waiter.wait(key, submitted, map) : map());
      } catch (e) {
        await this.settleChecks();
        throw e;
      }
      const mapped = staging.getMappedRange(0, size);
      let from = 0;
      const out = parts.map((p, i) => {
        const part = mapped.slice(from, from + p.bytes);
        from += sizes[i]!;
        return part;
      });
      staging.unmap();
      this.pool.release(staging);
      await this.settleChecks();
      return out;
    };
  }

  async read(buffer: GPUBuffer, floats?: number, offsetFloats = 0, tag?: string): Promise<Float32Array> {
    const n = floats ?? buffer.size / 4;
    return new Float32Array(await this.readBytes(buffer, n * 4, offsetFloats * 4, tag));
  }

  // ---- timing ------------------------------------------------------------------------------

  /**
   * Runs `record` (which records dispatches) in one compute pass and returns the device time of
   * that pass in ms from timestamp queries, or null where the adapter has none. Flushes first.
   */
  async timePass(record: () => void, tag = 'timed-pass'): Promise<{ deviceMs: number | null; wallMs: number }> {
    this.flush();
    let qs: GPUQuerySet | null = null;
    if (this.has('timestamp-query')) {
      qs = this.device.createQuerySet({ type: 'timestamp', count: 2, label: 'coca:timestamps' });
      this.recorder.nextPassTimestamps = { querySet: qs, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 };
    }
    const t0 = performance.now();
    const submitsBefore = this.submits;
    record();
    if (this.submits !== submitsBefore) {
      // The recording flushed part-way (too many dispatches for one pass): time by wall clock.
      qs?.destroy();
      qs = null;
    }
    let deviceMs: number | null = null;
    if (qs) {
      const resolve = this.pool.acquire(16, GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC, 'coca:timestamps');
      this.recorder.commandEncoder().resolveQuerySet(qs, 0, 2, resolve, 0);
      const bytes = await this.readBytes(resolve, 16, 0, tag);
      const [a, b] = new BigUint64Array(bytes);
      deviceMs = Number(b! - a!) / 1e6;
      this.pool.release(resolve);
      qs.destroy();
    } else {
      await this.sync(tag);
    }
    this.recorder.nextPassTimestamps = undefined;
    return { deviceMs, wallMs: performance.now() - t0 };
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.device.destroy();
  }
}

let shared: Promise<Gpu> | null = null;

/** The process-wide device, opened on first use. */
export function getGpu(options?: GpuOptions): Promise<Gpu> {
  shared ??= Gpu.open(options).catch((e) => {
    shared = null;
    throw e;
  });
  return shared;
}
