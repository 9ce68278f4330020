// The moving average of the weights (`coca train --ema DECAY`): one buffer per arena chunk of the
// parameters (ParamStore's layout, running statistics of batch norm included, as timm averages
// buffers too), moved towards the weights on the GPU after each AdamW update that was taken.
// Checkpoints store it as the model (src/train/checkpoint.ts), validation runs on it (swap()).
//
// Warm-up as timm's ModelEmaV3 with use_warmup (gamma 1, power 2/3): the average starts as the
// weights (decay 0 at the first update) and its decay grows as 1 − t^(−2/3) until it reaches
// DECAY (0.99 near update 1000, 0.999 near 31,600). Without it, a run of 300 steps at 0.999 would
// end with 74 % of the average still the initialisation.
//
// Beside src/train/adamw.ts, the other place above src/tensor that calls kernels/ directly
// (scripts/check-layers.ts lists it): it rewrites whole arenas between steps, not an op on the tape.
import { emaUpdate } from '../../kernels/ema.ts';
import { ShapeError } from '../gpu/errors.ts';
import type { Gpu } from '../gpu/gpu.ts';
import type { HostTensor, ParamStore } from '../nn/params.ts';
import { shapeStr } from '../tensor/tensor.ts';
import { dropHalfWeights } from '../tensor/precision.ts';

/** The decay of update t (1 = the update after AdamW's first step): timm ModelEmaV3's get_decay with warm-up. */
export function emaDecay(decay: number, t: number): number {
  const step = Math.max(0, t - 1);
  if (step <= 0) return 0;
  return Math.max(0, Math.min(decay, 1 - (1 + step) ** (-2 / 3)));
}

export class WeightAverage {
  /** One per arena chunk, laid out as it is. */
  private readonly buffers: GPUBuffer[];

  /** Starts as a copy of the parameters as they are now. */
  constructor(
    readonly gpu: Gpu,
    readonly params: ParamStore,
    readonly decay: number,
  ) {
    if (!(decay > 0 && decay < 1)) throw new ShapeError(`the weight average's decay ${decay} must lie in (0, 1)`);
    this.buffers = params.chunks.map((c, i) => {
      const b = gpu.alloc(c.floats, `ema[${i}]`);
      gpu.copy(c.params, b, c.floats * 4);
      return b;
    });
  }

  /** Records the update that follows AdamW's t-th update (opt.step after it). */
  update(t: number): void {
    const d = emaDecay(this.decay, t);
    this.params.chunks.forEach((c, i) => {
      // Decay 0 is a copy: exact, where fma(src − ema, 1, ema) may round.
      if (d === 0) this.gpu.copy(c.params, this.buffers[i]!, c.floats * 4);
      else emaUpdate(this.gpu, { ema: this.buffers[i]!, src: c.params, length: c.floats, decay: d, label: `ema[${i}]` });
    });
  }

  /**
   * Exchanges the weights and the average, bit for bit (through a scratch buffer), so that what
   * runs the model (validation, a checkpoint's model file) sees the average; a second swap undoes it.
   */
  swap(): void {
    this.params.chunks.forEach((c, i) => {
      const bytes = c.floats * 4;
      const scratch = this.gpu.alloc(c.floats, 'ema:swap');
      this.gpu.copy(c.params, scratch, bytes);
      this.gpu.copy(this.buffers[i]!, c.params, bytes);
      this.gpu.copy(scratch, this.buffers[i]!, bytes);
      this.gpu.release(scratch);
    });
    // The f16 copies the products read were made from the other weights.
    dropHalfWeights(this.gpu);
  }

  /** The average by parameter name, as ParamStore.state() gives the weights. */
  async state(): Promise<Map<string, HostTensor>> {
    const host = await Promise.all(this.buffers.map((b, i) => this.gpu.read(b, this.params.chunks[i]!.floats)));
    const out = new Map<string, HostTensor>();
    for (const [name, p] of this.params.params) out.set(name, { shape: p.tensor.shape, data: host[p.slot.chunk]!.slice(p.slot.offset, p.slot.offset + p.tensor.size) });
    return out;
  }

  /** Sets the average by name (a checkpoint's): every parameter, with its shape. */
  load(values: Map<string, HostTensor>): void {
    for (const [name, p] of this.params.params) {
      const v = values.get(name);
      if (!v || v.shape.length !== p.tensor.shape.length || v.shape.some((d, i) => d !== p.tensor.shape[i])) {
        throw new ShapeError(`the saved weight average has ${v ? `"${name}" ${shapeStr(v.shape)}` : `no "${name}"`} where the model has ${shapeStr(p.tensor.shape)}; it was made for another config`);
      }
      this.gpu.write(this.buffers[p.slot.chunk]!, v.data, p.slot.offset * 4);
    }
  }

  release(): void {
    for (const b of this.buffers) this.gpu.release(b);
    this.buffers.length = 0;
  }
}
