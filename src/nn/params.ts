// ParamStore: the model's parameters by open_clip state-dict name (`visual.transformer.
// resblocks.0.attn.in_proj_weight`), created from the config's parameter list with its
// initialisation rules and weight-decay flags, so checkpoints load and save by name.
//
// The parameters live in flat arenas (one buffer for the values, one for the gradients; more
// only past the adapter's buffer limits), decayed tensors first, each at a 64-float boundary with
// zeros between: the optimiser and the gradient norm then run over a few long ranges instead of
// one dispatch per tensor, and each parameter's gradient is written straight into its place
// (Tensor.gradHome), the first write overwriting, so nothing zeroes gradients between steps.
import type { Gpu } from '../gpu/gpu.ts';
import { ShapeError } from '../gpu/errors.ts';
import { Tensor, numel, shapeStr } from '../tensor/tensor.ts';
import type { Rng } from '../util/prng.ts';

export type ParamInit = { kind: 'normal'; std: number } | { kind: 'zeros' } | { kind: 'ones' } | { kind: 'constant'; value: number };

/** One parameter as a model declares it; `ParamStore.create` allocates and initialises it. */
export interface ParamSpec {
  name: string;
  shape: number[];
  /** AdamW weight decay applies: the weight matrices of linear maps only (not biases, norms, embeddings, queries, logit_scale). */
  decay: boolean;
  init: ParamInit;
  /**
   * State kept with the weights but never trained (batch norm's running statistics, torch's
   * buffers): saved and loaded by name like a parameter, no gradient, so AdamW never moves it.
   */
  buffer?: boolean;
}

export interface ParamInfo {
  tensor: Tensor;
  /** AdamW decays linear-map weights only (docs/model.md). */
  decay: boolean;
  /** A buffer (ParamSpec.buffer): no gradient ever. */
  buffer: boolean;
  /** Its place in the arenas. */
  slot: ArenaSlot;
}

/** One pair of flat buffers: parameter values and their gradients, `floats` each. */
export interface ArenaChunk {
  params: GPUBuffer;
  grads: GPUBuffer;
  floats: number;
}

/** Where a parameter sits: chunk, first float, and its extent up to the next one (its size plus zero padding). */
export interface ArenaSlot {
  chunk: number;
  offset: number;
  extent: number;
}

/** A run of parameters whose gradients sit side by side in one chunk. */
export interface ArenaRange {
  chunk: number;
  offset: number;
  length: number;
  decay: boolean;
}

/** Floats between parameter starts are a multiple of this (256 bytes: any binding offset, any vector width). */
const ALIGN = 64;
const alignUp = (n: number) => Math.ceil(n / ALIGN) * ALIGN;

export interface HostTensor {
  shape: readonly number[];
  data: Float32Array;
}

export class ParamStore {
  readonly params = new Map<string, ParamInfo>();
  readonly chunks: ArenaChunk[] = [];

  constructor(readonly gpu: Gpu) {}

  /** Every parameter of `specs`, initialised from `rng` in list order (deterministic per seed). */
  static create(gpu: Gpu, specs: ParamSpec[], rng: Rng): ParamStore {
    const store = new ParamStore(gpu);
    // Decayed tensors first: AdamW then needs one range per decay flag and chunk. Buffers last, in
    // chunks of their own by kind (every running_mean in one, every running_var in another): an
    // op that updates two of one layer (batch norm) binds each writable, and WebGPU refuses one
    // buffer bound writable twice.
    const params = specs.filter((s) => !s.buffer);
    const kind = (s: ParamSpec) => (s.buffer ? s.name.slice(s.name.lastIndexOf('.') + 1) : '');
    const bufferKinds = [...new Set(specs.filter((s) => s.buffer).map(kind))];
    const order = [...params.filter((s) => s.decay), ...params.filter((s) => !s.decay), ...bufferKinds.flatMap((k) => specs.filter((s) => s.buffer && kind(s) === k))];
    const cap = Math.floor(Math.min(gpu.limits.maxBufferSize, gpu.limits.maxStorageBufferBindingSize) / 4 / ALIGN) * ALIGN;
    const slots = new Map<string, ArenaSlot>();
    const sizes: number[] = [0];
    let prevKind = '';
    for (const s of order) {
      const extent = alignUp(numel(s.shape));
      const k = kind(s);
      if (sizes[sizes.length - 1]! > 0 && (sizes[sizes.length - 1]! + extent > cap || k !== prevKind)) sizes.push(0);
      prevKind = k;
      slots.set(s.name, { chunk: sizes.length - 1, offset: sizes[sizes.length - 1]!, extent });
      sizes[sizes.length - 1]! += extent;
    }
    const host = sizes.map((n) => new Float32Array(n));
    for (const s of specs) {
      const slot = slots.get(s.name)!;
      const n = numel(s.shape);
      const data = host[slot.chunk]!.subarray(slot.offset, slot.offset + n);
      const init = s.init;
      if (init.kind === 'normal') for (let i = 0; i < n; i++) data[i] = init.std * rng.normal();
      else if (init.kind === 'ones') data.fill(1);
      else if (init.kind === 'constant') data.fill(init.value);
    }
    sizes.forEach((floats, i) => {
      // Zeros in the gradient arena's padding (and in ranges no step has written yet): the norm and AdamW read whole ranges.
      const chunk = { params: gpu.upload(host[i]!, `params[${i}]`), grads: gpu.upload(new Float32Array(floats), `grads[${i}]`), floats };
      store.chunks.push(chunk);
    });
    for (const s of specs) {
      const slot = slots.get(s.name)!;
      const chunk = store.chunks[slot.chunk]!;
      const tensor = Tensor.wrap(gpu, chunk.params, s.shape, slot.offset, s.name);
      tensor.requiresGrad = !s.buffer;
      tensor.gradHome = { buffer: chunk.grads, offset: slot.offset };
      store.params.set(s.name, { tensor, decay: s.decay, buffer: !!s.buffer, slot });
    }
    return store;
  }

  /**
   * The parameters that have a gradient this step, as runs of neighbours in the arenas (merged
   * where the decay flag agrees, or always with `anyDecay`). A gradient that ended up outside its
   * place (an op that aliased another tensor's) is copied there first.
   */
  gradRanges(anyDecay = false): ArenaRange[] {
    const ranges: ArenaRange[] = [];
    const withGrad = [...this.params.values()].filter((p) => p.tensor.grad).sort((a, b) => a.slot.chunk - b.slot.chunk || a.slot.offset - b.slot.offset);
    for (const p of withGrad) {
      const g = p.tensor.grad!;
      const home = p.tensor.gradHome!;
      if (g.buffer !== home.buffer || g.offset !== home.offset) {
        this.gpu.copy(g.buffer, home.buffer, p.tensor.size * 4, g.offset * 4, home.offset * 4);
        g.release();
        p.tensor.grad = Tensor.wrap(this.gpu, home.buffer, p.tensor.shape, home.offset, `grad(${p.tensor.name})`);
      }
      const last = ranges[ranges.length - 1];
      const { chunk, offset, extent } = p.slot;
      if (last && last.chunk === chunk && last.offset + last.length === offset && (anyDecay || last.decay === p.decay)) last.length += extent;
      else ranges.push({ chunk, offset, length: extent, decay: p.decay });
    }
    return ranges;
  }

  get(name: string): Tensor {
    const p = this.params.get(name);
    if (!p) throw new ShapeError(`model has no parameter "${name}"`);
    return p.tensor;
  }

  has(name: string): boolean {
    return this.params.has(name);
  }

  count(): number {
    let n = 0;
    for (const p of this.params.values()) n += p.tensor.size;
    return n;
  }

  /** Copies values in by name. Every parameter must be given, with its shape, and nothing else. */
  load(values: Map<string, HostTensor>): void {
    for (const [name, p] of this.params) {
      const v = values.get(name);
      if (!v) throw new ShapeError(`checkpoint has no tensor "${name}" ${shapeStr(p.tensor.shape)}; it was made for another config`);
      if (v.shape.length !== p.tensor.shape.length || v.shape.some((d, i) => d !== p.tensor.shape[i])) {
        throw new ShapeError(`checkpoint tensor "${name}" is ${shapeStr(v.shape)} but this model's is ${shapeStr(p.tensor.shape)}; it was made for another config`);
      }
      this.gpu.write(p.tensor.buffer, v.data, p.tensor.offset * 4);
    }
    for (const name of values.keys()) {
      if (!this.params.has(name)) throw new ShapeError(`checkpoint tensor "${name}" has no place in this model; it was made for another config`);
    }
  }

  /** Reads every parameter back (for checkpoints). */
  async state(): Promise<Map<string, HostTensor>> {
    const host = await Promise.all(this.chunks.map((c) => this.gpu.read(c.params, c.floats)));
    const out = new Map<string, HostTensor>();
    for (const [name, p] of this.params) out.set(name, { shape: p.tensor.shape, data: host[p.slot.chunk]!.slice(p.slot.offset, p.slot.offset + p.tensor.size) });
    return out;
  }

  zeroGrad(): void {
    for (const p of this.params.values()) {
      p.tensor.grad?.release();
      p.tensor.grad = null;
    }
  }

  release(): void {
    this.zeroGrad();
    for (const p of this.params.values()) p.tensor.release();
    for (const c of this.chunks) {
      this.gpu.release(c.params);
      this.gpu.release(c.grads);
    }
    this.chunks.length = 0;
  }
}
