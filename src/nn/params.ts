// ParamStore: the model's parameters by open_clip state-dict name (`visual.transformer.
// resblocks.0.attn.in_proj_weight`), created from the config's parameter list with its
// initialisation rules and weight-decay flags, so checkpoints load and save by name.
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
}

export interface ParamInfo {
  tensor: Tensor;
  /** AdamW decays linear-map weights only (docs/model.md). */
  decay: boolean;
}

export interface HostTensor {
  shape: readonly number[];
  data: Float32Array;
}

export class ParamStore {
  readonly params = new Map<string, ParamInfo>();

  constructor(readonly gpu: Gpu) {}

  /** Every parameter of `specs`, initialised from `rng` in list order (deterministic per seed). */
  static create(gpu: Gpu, specs: ParamSpec[], rng: Rng): ParamStore {
    const store = new ParamStore(gpu);
    for (const s of specs) {
      const n = numel(s.shape);
      const data = new Float32Array(n);
      const init = s.init;
      if (init.kind === 'normal') for (let i = 0; i < n; i++) data[i] = init.std * rng.normal();
      else if (init.kind === 'ones') data.fill(1);
      else if (init.kind === 'constant') data.fill(init.value);
      store.params.set(s.name, { tensor: Tensor.fromArray(gpu, data, s.shape, s.name, true), decay: s.decay });
    }
    return store;
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
    const out = new Map<string, HostTensor>();
    for (const [name, p] of this.params) out.set(name, { shape: p.tensor.shape, data: await p.tensor.toArray() });
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
  }
}
