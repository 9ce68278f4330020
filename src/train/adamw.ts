// AdamW over a ParamStore (kernels/adamw.ts): moments per parameter, decoupled weight decay on
// the parameters whose `decay` flag is set, bias correction by step, and the global gradient-norm
// clip folded into the update. Parameters without a gradient this step are left alone, as torch
// does.
//
// The one place above src/tensor that calls kernels/ directly (scripts/check-layers.ts lists it):
// the update rewrites every parameter in place between steps; it is not an op on the tape, and
// the fused kernel does all of them in one pass instead of a dozen tensor ops per parameter.
import { adamwList, gradNorm, STATS_FLOATS, STATS_NONFINITE, type AdamWHyper, type AdamWTensor } from '../../kernels/adamw.ts';
import type { Gpu } from '../gpu/gpu.ts';
import type { ParamStore } from '../nn/params.ts';

/** coca's AdamW settings (`coca train`, the bench, the profiler, the tests that train): the one place they are written. */
export const DEFAULT_ADAMW: Readonly<Required<Omit<AdamWHyper, 'lr'>>> = { beta1: 0.9, beta2: 0.98, eps: 1e-6, weightDecay: 0.1 };

/** What clipGradNorm measured; `scale` is what update() needs to apply the clip. */
export interface GradNorm {
  /** The global L2 norm of the gradients before clipping. */
  norm: number;
  /** Some gradient is NaN or Inf. */
  nonFinite: boolean;
  /** The GPU stats the update reads the clip factor from. */
  scale: GPUBuffer;
}

/**
 * The training step's one read-back: the gradient-norm stats (STATS_FLOATS floats: norm, clip
 * scale, NaN/Inf flag, 0), then from STEP_LOSS_AT the loss floats the step logs.
 */
export const STEP_STATS_FLOATS = 8;
export const STEP_LOSS_AT = STATS_FLOATS;
/** The NaN/Inf flag in the step's stats. */
export const STEP_NONFINITE = STATS_NONFINITE;

export class AdamW {
  /** Updates done so far (torch's state['step']). */
  step = 0;
  readonly hyper: Required<AdamWHyper>;
  private moments = new Map<string, { m: GPUBuffer; v: GPUBuffer }>();
  private stats: GPUBuffer | null = null;

  /** The settings not given are DEFAULT_ADAMW's. */
  constructor(
    readonly gpu: Gpu,
    readonly params: ParamStore,
    hyper: AdamWHyper,
  ) {
    const d = DEFAULT_ADAMW;
    // In this key order: checkpoints record the settings as JSON.
    this.hyper = { lr: hyper.lr, beta1: hyper.beta1 ?? d.beta1, beta2: hyper.beta2 ?? d.beta2, eps: hyper.eps ?? d.eps, weightDecay: hyper.weightDecay ?? d.weightDecay };
  }

  private momentsOf(name: string, floats: number): { m: GPUBuffer; v: GPUBuffer } {
    let mv = this.moments.get(name);
    if (!mv) {
      const zeros = new Float32Array(floats);
      mv = { m: this.gpu.upload(zeros, `adam.m(${name})`), v: this.gpu.upload(zeros, `adam.v(${name})`) };
      this.moments.set(name, mv);
    }
    return mv;
  }

  /**
   * torch's clip_grad_norm_, without a pass of its own: measures the global norm of the current
   * gradients and reads it back (with whether any is NaN or Inf); `update(g.scale)` then scales
   * the gradients by min(1, maxNorm / norm) as it reads them.
   */
  async clipGradNorm(maxNorm: number): Promise<GradNorm> {
    const stats = this.recordGradNorm(maxNorm);
    const st = await this.gpu.read(stats, STATS_FLOATS, 0, 'train:stats');
    return { norm: st[0]!, nonFinite: st[STATS_NONFINITE] !== 0, scale: stats };
  }

  /**
   * The step's stats buffer (STEP_STATS_FLOATS floats, kept across steps): the loss goes in from
   * STEP_LOSS_AT, recordGradNorm writes the front, and the step reads it all back once.
   */
  get stepStats(): GPUBuffer {
    this.stats ??= this.gpu.alloc(STEP_STATS_FLOATS, 'step_stats');
    return this.stats;
  }

  /**
   * Records the global gradient norm and clip factor into stepStats without reading anything
   * back; `alsoCheck` floats of it (the losses) being NaN/Inf also raise the NaN/Inf flag.
   */
  recordGradNorm(maxNorm: number, alsoCheck?: { from: number; count: number }): GPUBuffer {
    const grads = [...this.params.params.values()].filter((p) => p.tensor.grad).map((p) => ({ buffer: p.tensor.grad!.buffer, offset: p.tensor.grad!.offset, length: p.tensor.size }));
    gradNorm(this.gpu, grads, this.stepStats, maxNorm, alsoCheck);
    return this.stepStats;
  }

  /**
   * Records one update from the parameters' current gradients (scaled by `clip` stats if given).
   * With skipNonFinite the GPU leaves everything as it was when those stats flag a NaN or Inf;
   * the caller then learns it from the stats and calls undoStep().
   */
  update(clip?: GPUBuffer, skipNonFinite = false): void {
    this.step++;
    const list: AdamWTensor[] = [];
    for (const [name, p] of this.params.params) {
      const g = p.tensor.grad;
      if (!g) continue;
      if (g.offset !== 0 || p.tensor.offset !== 0) throw new Error(`AdamW: ${name} or its gradient is a view at an offset`);
      const { m, v } = this.momentsOf(name, p.tensor.size);
      list.push({ params: p.tensor.buffer, grads: g.buffer, m, v, length: p.tensor.size, decay: p.decay });
    }
    adamwList(this.gpu, list, this.step, this.hyper, clip, skipNonFinite);
  }

  /** Takes back the count of an update the GPU skipped (skipNonFinite). */
  undoStep(): void {
    this.step--;
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
    if (this.stats) this.gpu.release(this.stats);
    this.stats = null;
    for (const { m, v } of this.moments.values()) {
      this.gpu.release(m);
      this.gpu.release(v);
    }
    this.moments.clear();
  }
}
