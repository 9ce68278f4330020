// AdamW over a ParamStore (kernels/adamw.ts): moments per parameter, decoupled weight decay on
// the parameters whose `decay` flag is set, bias correction by step. Parameters without a
// gradient this step are left alone, as torch does.
import { adamwList, type AdamWHyper, type AdamWTensor } from '../../kernels/adamw.ts';
import type { Gpu } from '../gpu/gpu.ts';
import type { ParamStore } from '../nn/params.ts';

export class AdamW {
  /** Updates done so far (torch's state['step']). */
  step = 0;
  private moments = new Map<string, { m: GPUBuffer; v: GPUBuffer }>();

  constructor(
    readonly gpu: Gpu,
    readonly params: ParamStore,
    public hyper: Required<AdamWHyper>,
  ) {}

  private momentsOf(name: string, floats: number): { m: GPUBuffer; v: GPUBuffer } {
    let mv = this.moments.get(name);
    if (!mv) {
      const zeros = new Float32Array(floats);
      mv = { m: this.gpu.upload(zeros, `adam.m(${name})`), v: this.gpu.upload(zeros, `adam.v(${name})`) };
      this.moments.set(name, mv);
    }
    return mv;
  }

  /** Records one update from the parameters' current gradients (scaled by `clip` stats if given). */
  update(clip?: GPUBuffer): void {
    this.step++;
    const list: AdamWTensor[] = [];
    for (const [name, p] of this.params.params) {
      const g = p.tensor.grad;
      if (!g) continue;
      if (g.offset !== 0 || p.tensor.offset !== 0) throw new Error(`AdamW: ${name} or its gradient is a view at an offset`);
      const { m, v } = this.momentsOf(name, p.tensor.size);
      list.push({ params: p.tensor.buffer, grads: g.buffer, m, v, length: p.tensor.size, decay: p.decay });
    }
    adamwList(this.gpu, list, this.step, this.hyper, clip);
  }

  /** Moments as host arrays, for checkpoints. */
  async state(): Promise<Map<string, { m: Float32Array; v: Float32Array }>> {
    const out = new Map<string, { m: Float32Array; v: Float32Array }>();
    for (const [name, mv] of this.moments) {
      const n = this.params.get(name).size;
      out.set(name, { m: await this.gpu.read(mv.m, n), v: await this.gpu.read(mv.v, n) });
    }
    return out;
  }

  load(step: number, moments: Map<string, { m: Float32Array; v: Float32Array }>): void {
    this.step = step;
    for (const [name, s] of moments) {
      const mv = this.momentsOf(name, this.params.get(name).size);
      this.gpu.write(mv.m, s.m);
      this.gpu.write(mv.v, s.v);
    }
  }

  release(): void {
    for (const { m, v } of this.moments.values()) {
      this.gpu.release(m);
      this.gpu.release(v);
    }
    this.moments.clear();
  }
}
