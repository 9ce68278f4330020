// Kernels: a WGSL file of shaders/, specialised (src/gpu/shaders.ts) and built into a compute
// pipeline under a validation error scope, cached by file, entry point and defines, with one bind
// group layout per list of binding kinds. Building is synchronous, so ops record without
// awaiting; a compile error, named by file, line and entry point, surfaces at the next sync.
import { ShaderError } from './errors.ts';
import { specialise, type Defines } from './shaders.ts';

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

export class Pipelines {
  private kernels = new Map<string, Kernel>();
  private layouts = new Map<string, GPUBindGroupLayout>();
  private named = new Map<string, Kernel>();

  /** `failed` hears of a compile error as soon as it is known; `pending` gets every check, to settle at the next sync. */
  constructor(
    private readonly device: GPUDevice,
    private readonly failed: (e: ShaderError) => void,
    private readonly pending: (check: Promise<unknown>) => void,
  ) {}

  private layoutFor(bindings: BindingKind[]): GPUBindGroupLayout {
    const key = bindings.join(',');
    let layout = this.layouts.get(key);
    if (!layout) {
      const entries: GPUBindGroupLayoutEntry[] = [
        // The uniform block's slot in the recorder's arena is a dynamic offset, so one bind group
        // serves every dispatch over the same buffers (recorder.ts caches them).
        { binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform', hasDynamicOffset: true } },
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
   * The kernel a launcher names by `key` (its own compact key, prefixed by its family, from what
   * its spec depends on), built from `spec()` on first use: the spec, its defines and its full key
   * are not rebuilt on every dispatch.
   */
  by(key: string, spec: () => KernelSpec): Kernel {
    let k = this.named.get(key);
    if (!k) {
      k = this.get(spec());
      this.named.set(key, k);
    }
    return k;
  }

  /** The kernel for `spec`, built on first use. */
  get(spec: KernelSpec): Kernel {
    // file:entry[:NAME=value,...] — built by hand: this runs on every dispatch.
    let key = spec.file + ':' + spec.entry;
    let defs = '';
    const d = spec.defines;
    if (d) {
      for (const k in d) defs += (defs ? ',' : '') + k + '=' + d[k];
      if (defs) key += ':' + defs;
    }
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
      this.failed(e);
      return e;
    });
    this.pending(check);
    const kernel: Kernel = { key, spec, pipeline, layout, check };
    this.kernels.set(key, kernel);
    return kernel;
  }
}
