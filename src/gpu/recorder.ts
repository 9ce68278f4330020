// The recorder: dispatches and copies go into one command encoder (dispatches into one compute
// pass) until a submit, so a training step costs a few submits instead of hundreds. Uniform
// blocks are staged in 256-byte slots of an arena written once per submit; two arenas are used in
// turn so that writing the next never waits on the last. Everything recorded runs under a
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

export class Recorder {
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  /** Timestamp writes for the next pass opened (timePass). */
  nextPassTimestamps: GPUComputePassTimestampWrites | undefined;
  private recorded: string[] = [];
  private uniformStage = new Uint8Array(UNIFORM_SLOT * UNIFORM_SLOTS);
  private uniformBuffers: GPUBuffer[] = [];
  private uniformUsed = 0;
  private arenaIndex = 0;
  profiler: DispatchProfiler | null = null;

  constructor(private readonly device: GPUDevice) {}

  /** Whether nothing has been recorded since the last submit. */
  get empty(): boolean {
    return !this.encoder;
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

  /** Records one dispatch; the caller has checked it (and submitted first when `full`). */
  dispatch(kernel: Kernel, uniforms: ArrayBufferView, buffers: Binding[], [x, y, z]: [number, number, number], label: string, maxBinding: number): void {
    const pass = this.openPass();
    const slot = this.uniformUsed++;
    this.uniformStage.set(new Uint8Array(uniforms.buffer, uniforms.byteOffset, uniforms.byteLength), slot * UNIFORM_SLOT);
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
    this.arenaIndex ^= 1;
    return out;
  }

  /** Times every dispatch from now on (one pass each); call with nothing recorded. */
  enableProfiling(pool: BufferPool, byLabel: boolean): void {
    this.profiler ??= new DispatchProfiler(this.device, pool, MAX_DISPATCHES_PER_SUBMIT);
    this.profiler.byLabel = byLabel;
  }
}
