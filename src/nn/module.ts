// Module: a named tree of parameters, so a model's state dict reads like open_clip's
// (`visual.transformer.resblocks.0.attn.in_proj_weight`) and checkpoints load by name.
import type { Gpu } from '../gpu/gpu.ts';
import { ShapeError } from '../gpu/errors.ts';
import type { Rng } from '../util/prng.ts';
import { Tensor, numel, shapeStr } from '../tensor/tensor.ts';

export interface ParamInfo {
  tensor: Tensor;
  /** AdamW applies weight decay to matrices only: not to biases, norms, embeddings, logit scale. */
  decay: boolean;
}

export type Init = { kind: 'normal'; std: number } | { kind: 'const'; value: number } | { kind: 'values'; data: Float32Array };

export abstract class Module {
  private readonly ownParams = new Map<string, ParamInfo>();
  private readonly children = new Map<string, Module>();

  constructor(protected readonly gpu: Gpu) {}

  protected child<M extends Module>(name: string, m: M): M {
    this.children.set(name, m);
    return m;
  }

  /** Creates a trainable parameter with its initial values drawn from `rng`. */
  protected param(name: string, shape: number[], init: Init, rng: Rng, decay: boolean): Tensor {
    const n = numel(shape);
    let data: Float32Array;
    if (init.kind === 'values') data = init.data;
    else if (init.kind === 'const') data = new Float32Array(n).fill(init.value);
    else {
      data = new Float32Array(n);
      for (let i = 0; i < n; i++) data[i] = init.std * rng.normal();
    }
    const t = Tensor.fromArray(this.gpu, data, shape, name, true);
    this.ownParams.set(name, { tensor: t, decay });
    return t;
  }

  /** Every parameter under this module, by dotted name, in definition order. */
  namedParameters(prefix = ''): Map<string, ParamInfo> {
    const out = new Map<string, ParamInfo>();
    for (const [n, p] of this.ownParams) out.set(prefix + n, p);
    for (const [n, c] of this.children) for (const [k, p] of c.namedParameters(`${prefix}${n}.`)) out.set(k, p);
    return out;
  }

  parameterCount(): number {
    let n = 0;
    for (const p of this.namedParameters().values()) n += p.tensor.size;
    return n;
  }

  /** Copies values into the parameters by name; every name must match in shape. */
  loadState(values: Map<string, { shape: readonly number[]; data: Float32Array }>, opts: { strict?: boolean } = {}): void {
    const params = this.namedParameters();
    for (const [name, p] of params) {
      const v = values.get(name);
      if (!v) {
        if (opts.strict ?? true) throw new ShapeError(`checkpoint has no tensor "${name}" ${shapeStr(p.tensor.shape)}; it was made for another config`);
        continue;
      }
      if (v.shape.length !== p.tensor.shape.length || v.shape.some((d, i) => d !== p.tensor.shape[i])) {
        throw new ShapeError(`checkpoint tensor "${name}" is ${shapeStr(v.shape)} but this model's is ${shapeStr(p.tensor.shape)}; it was made for another config`);
      }
      this.gpu.write(p.tensor.buffer, v.data, p.tensor.offset * 4);
    }
    if (opts.strict ?? true) {
      for (const name of values.keys()) {
        if (!params.has(name)) throw new ShapeError(`checkpoint tensor "${name}" has no place in this model; it was made for another config`);
      }
    }
  }

  /** Drops every parameter's gradient. */
  zeroGrad(): void {
    for (const p of this.namedParameters().values()) {
      p.tensor.grad?.release();
      p.tensor.grad = null;
    }
  }

  release(): void {
    this.zeroGrad();
    for (const p of this.namedParameters().values()) p.tensor.release();
  }
}
