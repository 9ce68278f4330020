// The recorder: dispatches and copies go into one command encoder (dispatches into one compute
// pass) until a submit, so a training step costs a few submits instead of hundreds. Uniform
// blocks are staged in 256-byte slots of one arena, written once per submit (queue.writeBuffer is
// ordered between submits, so the next write never touches what the last submit reads, and never
// waits for it either: the queue stages the data). A dispatch's slot is a dynamic offset, so its
// bind group depends only on the kernel's layout and the storage buffers, and is made once and
// reused by every later dispatch over the same buffers (BindGroupCache: a training or decode step
// asks the pool for the same buffers every time, pool.ts). Everything recorded runs under a
// validation and an out-of-memory error scope, popped at the submit and named by what was recorded.
import type { Kernel } from './pipelines.ts';
import type { BufferPool } from './pool.ts';
import { DispatchProfiler } from './profiler.ts';

export type Binding = GPUBuffer | { buffer: GPUBuffer; offset?: number };

export const UNIFORM_SLOT = 256; // minUniformBufferOffsetAlignment on every adapter we know
const UNIFORM_SLOTS = 1024;
export const MAX_DISPATCHES_PER_SUBMIT = 512;

/** What a submit leaves to check: its error scopes and the labels of what it ran. */
export interface Submitted {
  what: string[];
  validation: Promise<GPUError | null>;
  oom: Promise<GPUError | null>;
  /** Resolves when the profiler has read this submit's timestamps. */
  profiled: Promise<void> | null;
}

/**
 * Bind groups by (layout, uniform buffer, storage buffers and offsets), keyed by object identity:
 * a hit binds exactly the buffer objects a fresh group would, so it is valid exactly when a fresh
 * one would be. A pooled buffer released and handed out again is the same object, and its groups
 * stay good; a destroyed buffer's groups are dropped (forget(), called by the pool) so they do not
 * keep its wrapper alive; a re-created buffer is a new object with a new id. The cache is emptied
 * when it reaches `capacity` groups, which a step's working set stays far below.
 */
export class BindGroupCache {
  private readonly groups = new Map<string, GPUBindGroup>();
  /** The keys that bind each buffer, for forget(). */
  private readonly keysOf = new Map<GPUBuffer, string[]>();
  private readonly ids = new WeakMap<object, number>();
  private nextId = 1;
  /** Bind groups created and reused (tests, profiling). */
  readonly stats = { created: 0, reused: 0 };

  constructor(
    private readonly device: GPUDevice,
    private readonly capacity = 8192,
  ) {}

  get size(): number {
    return this.groups.size;
  }

  private id(o: object): number {
    let id = this.ids.get(o);
    if (id === undefined) {
      id = this.nextId++;
      this.ids.set(o, id);
    }
    return id;
  }

  /** The bind group of `layout` with `uniform` (a dynamic-offset slot) at 0 and `buffers` at 1..n. */
  get(layout: GPUBindGroupLayout, uniform: GPUBuffer, buffers: Binding[], maxBinding: number, label: string): GPUBindGroup {
    let key = `${this.id(layout)}|${this.id(uniform)}`;
    for (let i = 0; i < buffers.length; i++) {
      const b = buffers[i]!;
      if ('buffer' in b) key += b.offset ? `,${this.id(b.buffer)}@${b.offset}` : `,${this.id(b.buffer)}`;
      else key += `,${this.id(b)}`;
    }
    const hit = this.groups.get(key);
    if (hit) {
      this.stats.reused++;
      return hit;
    }
    if (this.groups.size >= this.capacity) this.clear();
    const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: { buffer: uniform, offset: 0, size: UNIFORM_SLOT } }];
    const bound: GPUBuffer[] = [];
    for (let i = 0; i < buffers.length; i++) {
      const b = buffers[i]!;
      const buffer = 'buffer' in b ? b.buffer : b;
      const offset = 'buffer' in b ? (b.offset ?? 0) : 0;
      const size = Math.min(buffer.size - offset, Math.floor(maxBinding / 4) * 4);
      entries.push({ binding: i + 1, resource: { buffer, offset, size } });
      bound.push(buffer);
    }
    const group = this.device.createBindGroup({ layout, entries, label });
    this.stats.created++;
    this.groups.set(key, group);
    for (const buffer of bound) {
      const keys = this.keysOf.get(buffer);
      if (keys) keys.push(key);
      else this.keysOf.set(buffer, [key]);
    }
    return group;
  }

  /** Drops every group that binds `buffer` (it is being destroyed). */
  forget(buffer: GPUBuffer): void {
    const keys = this.keysOf.get(buffer);
    if (!keys) return;
    this.keysOf.delete(buffer);
    for (const k of keys) this.groups.delete(k);
  }

  clear(): void {
    this.groups.clear();
    this.keysOf.clear();
  }
}

export class Recorder {
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  /** Timestamp writes for the next pass opened (timePass). */
  nextPassTimestamps: GPUComputePassTimestampWrites | undefined;
  private recorded: string[] = [];
  private uniformStage = new Uint8Array(UNIFORM_SLOT * UNIFORM_SLOTS);
  /** The stage as 32-bit words: most launchers hand their uniforms over as a Uint32Array. */
  private uniformWords = new Uint32Array(this.uniformStage.buffer);
  private uniformBuffer: GPUBuffer | null = null;
  private uniformUsed = 0;
  /** setBindGroup's dynamic offsets (a plain array converts faster than the typed-array overload in Dawn's Node bindings). */
  private readonly dynamicOffset = [0];
  readonly bindGroups: BindGroupCache;
  profiler: DispatchProfiler | null = null;

  constructor(private readonly device: GPUDevice) {
    this.bindGroups = new BindGroupCache(device);
  }

  /** Whether nothing has been recorded since the last submit. */
  get empty(): boolean {
    return !this.encoder;
  }

  /** Dispatches and copies recorded since the last submit. */
  get size(): number {
    return this.recorded.length;
  }

  /** Whether the next dispatch needs a submit first (uniform slots or the dispatch cap used up). */
  get full(): boolean {
    return this.uniformUsed === UNIFORM_SLOTS || this.recorded.length >= MAX_DISPATCHES_PER_SUBMIT;
  }

  private openEncoder(): GPUCommandEncoder {
    if (!this.encoder) {
      // Everything recorded until the submit runs under these scopes; their result is checked
      // at the next sync and names what was recorded.
      this.device.pushErrorScope('out-of-memory');
      this.device.pushErrorScope('validation');
      this.encoder = this.device.createCommandEncoder({ label: 'coca:commands' });
    }
    return this.encoder;
  }

  private openPass(): GPUComputePassEncoder {
    const encoder = this.openEncoder();
    if (!this.pass) {
      this.pass = encoder.beginComputePass({ label: 'coca:pass', timestampWrites: this.nextPassTimestamps });
      this.nextPassTimestamps = undefined;
    }
    return this.pass;
  }

  /** The encoder outside any pass, for copies and query resolves, ordered after what is recorded. */
  commandEncoder(): GPUCommandEncoder {
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
    return this.openEncoder();
  }

  /** Names a recorded command in the error message of its submit. */
  note(label: string): void {
    this.recorded.push(label);
  }

  private uniformArena(): GPUBuffer {
    this.uniformBuffer ??= this.device.createBuffer({
      size: this.uniformStage.byteLength,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
      label: 'coca:uniform-arena',
    });
    return this.uniformBuffer;
  }

  /** Records one dispatch; the caller has checked it (and submitted first when `full`). */
  dispatch(kernel: Kernel, uniforms: ArrayBufferView, buffers: Binding[], [x, y, z]: [number, number, number], label: string, maxBinding: number): void {
    const pass = this.openPass();
    const slot = this.uniformUsed++;
    if (uniforms instanceof Uint32Array) this.uniformWords.set(uniforms, slot * (UNIFORM_SLOT / 4));
    else this.uniformStage.set(new Uint8Array(uniforms.buffer, uniforms.byteOffset, uniforms.byteLength), slot * UNIFORM_SLOT);
    const group = this.bindGroups.get(kernel.layout, this.uniformArena(), buffers, maxBinding, label);
    if (this.profiler) {
      // A pass of its own, timestamped at both ends; a software adapter runs passes in order.
      pass.end();
      this.pass = this.encoder!.beginComputePass({ label, timestampWrites: this.profiler.timestamps(kernel.key, label) });
    }
    const p = this.pass!;
    p.setPipeline(kernel.pipeline);
    this.dynamicOffset[0] = slot * UNIFORM_SLOT;
    p.setBindGroup(0, group, this.dynamicOffset);
    p.dispatchWorkgroups(x, y, z);
    if (this.profiler) {
      p.end();
      this.pass = null;
    }
    this.recorded.push(label);
  }

  /** Submits what has been recorded; null when nothing was. */
  submit(): Submitted | null {
    if (!this.encoder) return null;
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
    if (this.uniformUsed > 0) {
      this.device.queue.writeBuffer(this.uniformArena(), 0, this.uniformStage, 0, this.uniformUsed * UNIFORM_SLOT);
    }
    const profiled = this.profiler?.resolve(this.encoder) ?? null;
    this.device.queue.submit([this.encoder.finish()]);
    const readBack = profiled ? profiled() : null;
    const validation = this.device.popErrorScope();
    const oom = this.device.popErrorScope();
    const out: Submitted = { what: this.recorded, validation, oom, profiled: readBack };
    this.encoder = null;
    this.recorded = [];
    this.uniformUsed = 0;
    return out;
  }

  /** Times every dispatch from now on (one pass each); call with nothing recorded. */
  enableProfiling(pool: BufferPool, byLabel: boolean): void {
    this.profiler ??= new DispatchProfiler(this.device, pool, MAX_DISPATCHES_PER_SUBMIT);
    this.profiler.byLabel = byLabel;
  }
}
