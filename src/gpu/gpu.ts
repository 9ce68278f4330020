// The one GPU device of a process: adapter and limits, features, labelled pipelines built under
// error scopes, a recorder that batches dispatches into few submits, readback that waits without
// polling, device-loss handling, and the buffer pool. Everything above src/gpu goes through this.
import { openAdapter, type BackendChoice, type BackendName } from './backend.ts';
import { DeviceLostError, GpuRuntimeError, ShaderError } from './errors.ts';
import { BufferPool } from './pool.ts';
import { DispatchProfiler, type ProfileEntry } from './profiler.ts';
import { specialise, type Defines } from './shaders.ts';
import { IdleWaiter, waitModeFromEnv, type WaitMode } from './wait.ts';

export type FeatureName = 'subgroups' | 'shader-f16' | 'timestamp-query';
const WANTED_FEATURES: FeatureName[] = ['subgroups', 'shader-f16', 'timestamp-query'];

export type BindingKind = 'read' | 'rw';

/** What a compute kernel is: a WGSL file, an entry point, its specialisation and bindings. */
export interface KernelSpec {
  file: string;
  entry: string;
  defines?: Defines;
  /** Storage bindings 1..n in order; binding 0 is always the uniform block. */
  bindings: BindingKind[];
  /** Source text to use instead of shaders/<file>.wgsl (tests of the error path). */
  source?: string;
}

export interface Kernel {
  readonly key: string;
  readonly spec: KernelSpec;
  readonly pipeline: GPUComputePipeline;
  readonly layout: GPUBindGroupLayout;
  /** Resolves to the compile error, if any (also reported at the next sync). */
  readonly check: Promise<ShaderError | null>;
}

export type Binding = GPUBuffer | { buffer: GPUBuffer; offset?: number };

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
}

/**
 * Whether the adapter runs on the CPU (a fallback adapter, Mesa's lavapipe or llvmpipe): kernels
 * pick other variants there, and the JS thread sleeps while it waits (src/gpu/wait.ts). Some
 * such adapters say so only in their name. The one test of it, for both uses.
 */
export function isSoftware(a: Pick<AdapterSummary, 'isFallbackAdapter' | 'architecture' | 'device' | 'description'>): boolean {
  return a.isFallbackAdapter || a.architecture === 'software' || /llvmpipe|lavapipe/i.test(a.device + a.description);
}

const UNIFORM_SLOT = 256; // minUniformBufferOffsetAlignment on every adapter we know
const UNIFORM_SLOTS = 1024;
const MAX_DISPATCHES_PER_SUBMIT = 512;

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
  /** Dispatches recorded since the last completed wait: what a wait is waiting for. */
  private workSinceWait = 0;

  private kernels = new Map<string, Kernel>();
  private layouts = new Map<string, GPUBindGroupLayout>();
  private failure: Error | null = null;
  private pendingChecks: Promise<unknown>[] = [];
  private destroyed = false;

  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private passTimestamps: GPUComputePassTimestampWrites | undefined;
  private recorded: string[] = [];
  private uniformStage = new Uint8Array(UNIFORM_SLOT * UNIFORM_SLOTS);
  private uniformBuffers: GPUBuffer[] = [];
  private uniformUsed = 0;
  private arenaIndex = 0;
  private dummy: GPUBuffer;
  private profiler: DispatchProfiler | null = null;

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
    this.pool = new BufferPool(device);
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
    const { backend, adapter } = await openAdapter(options.backend);
    const requiredLimits: Record<string, number> = {};
    // Ask for everything the adapter offers: Dawn's defaults are lower (16 KiB workgroup memory,
    // 256 invocations) and the fast kernels need more.
    for (const key in adapter.limits) {
      const v = (adapter.limits as unknown as Record<string, number>)[key];
      if (typeof v === 'number') requiredLimits[key] = v;
    }
    const requiredFeatures = WANTED_FEATURES.filter((f) => adapter.features.has(f));
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
    };
    return new Gpu(device, summary, options.wait ?? waitModeFromEnv(isSoftware(summary)));
  }

  has(feature: FeatureName): boolean {
    return this.features.has(feature);
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

  private layoutFor(bindings: BindingKind[]): GPUBindGroupLayout {
    const key = bindings.join(',');
    let layout = this.layouts.get(key);
    if (!layout) {
      const entries: GPUBindGroupLayoutEntry[] = [
        { binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform' } },
        ...bindings.map((b, i) => ({
          binding: i + 1,
          visibility: GPUShaderStage.COMPUTE,
          buffer: { type: (b === 'read' ? 'read-only-storage' : 'storage') as GPUBufferBindingType },
        })),
      ];
      layout = this.device.createBindGroupLayout({ entries, label: `coca:layout(${key})` });
      this.layouts.set(key, layout);
    }
    return layout;
  }

  /**
   * Returns the kernel for `spec`, building it on first use. Building is synchronous (so ops
   * can be recorded without awaiting); a compile error is recorded with its file, line and entry
   * point and thrown at the next sync. `compile()` awaits it instead.
   */
  kernel(spec: KernelSpec): Kernel {
    const defs = spec.defines ? Object.entries(spec.defines).map(([k, v]) => `${k}=${v}`).join(',') : '';
    const key = `${spec.file}:${spec.entry}${defs ? `:${defs}` : ''}`;
    const cached = this.kernels.get(key);
    if (cached) return cached;
    const src = specialise(spec.file, spec.defines, spec.source);
    const where = `${src.path} (entry point ${spec.entry}${defs ? `, ${defs}` : ''})`;
    const layout = this.layoutFor(spec.bindings);
    this.device.pushErrorScope('validation');
    const module = this.device.createShaderModule({ code: src.code, label: key });
    const pipeline = this.device.createComputePipeline({
      label: key,
      layout: this.device.createPipelineLayout({ bindGroupLayouts: [layout], label: key }),
      compute: { module, entryPoint: spec.entry },
    });
    const scope = this.device.popErrorScope();
    const check = scope.then(async (err) => {
      if (!err) return null;
      const info = await module.getCompilationInfo();
      const first = info.messages.find((m) => m.type === 'error');
      const e = first
        ? new ShaderError(`${src.lineMap[first.lineNum - 1] ?? `${src.path}:${first.lineNum}`}:${first.linePos}: ${first.message} (entry point ${spec.entry})`)
        : new ShaderError(`${where}: pipeline creation failed: ${err.message.split('\n')[0]}`);
      this.fail(e);
      return e;
    });
    this.pendingChecks.push(check);
    const kernel: Kernel = { key, spec, pipeline, layout, check };
    this.kernels.set(key, kernel);
    return kernel;
  }

  /** Builds a kernel and waits for the result: throws ShaderError on a bad shader. */
  async compile(spec: KernelSpec): Promise<Kernel> {
    const k = this.kernel(spec);
    const err = await k.check;
    if (err) throw err;
    return k;
  }

  // ---- recording ---------------------------------------------------------------------------

  private openPass(): GPUComputePassEncoder {
    if (!this.encoder) {
      // Everything recorded until the submit runs under these scopes; their result is checked
      // at the next sync and names what was recorded.
      this.device.pushErrorScope('out-of-memory');
      this.device.pushErrorScope('validation');
      this.encoder = this.device.createCommandEncoder({ label: 'coca:commands' });
    }
    if (!this.pass) {
      this.pass = this.encoder.beginComputePass({ label: 'coca:pass', timestampWrites: this.passTimestamps });
      this.passTimestamps = undefined;
    }
    return this.pass;
  }

  private commandEncoder(): GPUCommandEncoder {
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
    if (!this.encoder) {
      this.device.pushErrorScope('out-of-memory');
      this.device.pushErrorScope('validation');
      this.encoder = this.device.createCommandEncoder({ label: 'coca:commands' });
    }
    return this.encoder;
  }

  private uniformArena(): GPUBuffer {
    // Two arenas used in turn, so writeBuffer for the next submit never waits on the last one.
    while (this.uniformBuffers.length < 2) {
      this.uniformBuffers.push(
        this.device.createBuffer({
          size: this.uniformStage.byteLength,
          usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
          label: `coca:uniform-arena-${this.uniformBuffers.length}`,
        }),
      );
    }
    return this.uniformBuffers[this.arenaIndex]!;
  }

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
    if (this.uniformUsed === UNIFORM_SLOTS || this.recorded.length >= MAX_DISPATCHES_PER_SUBMIT) this.flush();
    const pass = this.openPass();
    const slot = this.uniformUsed++;
    this.uniformStage.set(new Uint8Array(uniforms.buffer, uniforms.byteOffset, uniforms.byteLength), slot * UNIFORM_SLOT);
    const maxBinding = this.limits.maxStorageBufferBindingSize;
    const entries: GPUBindGroupEntry[] = [
      { binding: 0, resource: { buffer: this.uniformArena(), offset: slot * UNIFORM_SLOT, size: UNIFORM_SLOT } },
      ...buffers.map((b, i) => {
        const buffer = 'buffer' in b ? b.buffer : (b as GPUBuffer);
        const offset = 'buffer' in b ? (b.offset ?? 0) : 0;
        const size = Math.min(buffer.size - offset, Math.floor(maxBinding / 4) * 4);
        return { binding: i + 1, resource: { buffer, offset, size } };
      }),
    ];
    const group = this.device.createBindGroup({ layout: kernel.layout, entries, label });
    if (this.profiler) {
      // A pass of its own, timestamped at both ends; a software adapter runs passes in order.
      pass.end();
      this.pass = this.encoder!.beginComputePass({ label, timestampWrites: this.profiler.timestamps(kernel.key, label) });
    }
    const p = this.pass!;
    p.setPipeline(kernel.pipeline);
    p.setBindGroup(0, group);
    p.dispatchWorkgroups(x, y, z);
    if (this.profiler) {
      p.end();
      this.pass = null;
    }
    this.recorded.push(label);
    this.workSinceWait++;
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
    if (!this.encoder) return performance.now();
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
    if (this.uniformUsed > 0) {
      this.device.queue.writeBuffer(this.uniformArena(), 0, this.uniformStage, 0, this.uniformUsed * UNIFORM_SLOT);
    }
    const profiled = this.profiler?.resolve(this.encoder) ?? null;
    this.device.queue.submit([this.encoder.finish()]);
    this.submits++;
    if (profiled) this.pendingChecks.push(profiled());
    const what = this.recorded;
    const validation = this.device.popErrorScope();
    const oom = this.device.popErrorScope();
    this.pendingChecks.push(
      Promise.all([validation, oom]).then(([v, o]) => {
        const err = o ?? v;
        if (!err) return;
        const kinds = [...new Set(what)].slice(0, 6).join(', ');
        const kind = o ? 'out of GPU memory' : 'GPU validation error';
        this.fail(new GpuRuntimeError(`${kind} while running ${kinds || 'copies'}: ${err.message.split('\n')[0]}`));
      }),
    );
    this.encoder = null;
    this.recorded = [];
    this.uniformUsed = 0;
    this.arenaIndex ^= 1;
    return performance.now();
  }

  /** Times every dispatch from now on (slower: one pass per dispatch); see profile(). */
  enableProfiling(opts: { byLabel?: boolean } = {}): void {
    if (!this.has('timestamp-query')) throw new GpuRuntimeError('profiling needs the timestamp-query feature, which this adapter lacks');
    this.flush();
    this.profiler ??= new DispatchProfiler(this.device, this.pool, MAX_DISPATCHES_PER_SUBMIT);
    this.profiler.byLabel = opts.byLabel ?? false;
  }

  /** Device milliseconds and dispatch counts per kernel since profiling began (after a sync). */
  profile(): Map<string, ProfileEntry> {
    return new Map(this.profiler?.totals ?? []);
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
    if (this.encoder) this.flush();
    this.device.queue.writeBuffer(buffer, offsetBytes, data.buffer, data.byteOffset, data.byteLength);
  }

  /** Records a buffer-to-buffer copy, ordered after the dispatches recorded so far. */
  copy(src: GPUBuffer, dst: GPUBuffer, bytes: number, srcOffset = 0, dstOffset = 0): void {
    this.throwIfFailed();
    this.commandEncoder().copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
    this.recorded.push(`copy(${src.label} → ${dst.label})`);
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
    const size = Math.ceil(bytes / 4) * 4;
    const staging = this.pool.acquire(size, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, `staging(${buffer.label})`);
    this.commandEncoder().copyBufferToBuffer(buffer, offset, staging, 0, size);
    this.recorded.push(`read(${buffer.label})`);
    const at = this.flush();
    try {
      const key = this.waitKey(tag);
      const map = () => staging.mapAsync(GPUMapMode.READ, 0, size);
      await (key ? this.waiter.wait(key, at, map) : map());
    } catch (e) {
      await this.settleChecks();
      throw e;
    }
    const out = staging.getMappedRange(0, size).slice(0, bytes);
    staging.unmap();
    this.pool.release(staging);
    await this.settleChecks();
    return out;
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
      this.passTimestamps = { querySet: qs, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 };
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
      this.commandEncoder().resolveQuerySet(qs, 0, 2, resolve, 0);
      const bytes = await this.readBytes(resolve, 16, 0, tag);
      const [a, b] = new BigUint64Array(bytes);
      deviceMs = Number(b! - a!) / 1e6;
      this.pool.release(resolve);
      qs.destroy();
    } else {
      await this.sync(tag);
    }
    this.passTimestamps = undefined;
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
