// AdamW over a ParamStore's flat arenas (kernels/adamw.ts): moments laid out as the parameters,
// decoupled weight decay on the parameters whose `decay` flag is set, bias correction by step,
// and the global gradient-norm clip folded into the update; a few dispatches for the whole model.
// Parameters without a gradient this step are left alone, as torch does.
//
// The one place above src/tensor that calls kernels/ directly (scripts/check-layers.ts lists it):
// the update rewrites every parameter in place between steps; it is not an op on the tape, and
// the fused kernel does all of them in one pass instead of a dozen tensor ops per parameter.
import { adamw, gradNorm, STATS_FLOATS, STATS_NONFINITE, type AdamWHyper } from '../../kernels/adamw.ts';
import { ShapeError } from '../gpu/errors.ts';
import type { Gpu } from '../gpu/gpu.ts';
import type { ParamStore } from '../nn/params.ts';
import { dropHalfWeights } from '../tensor/precision.ts';

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
  /** First and second moments, one pair per arena chunk of the parameters, laid out as it is. */
  private moments: { m: GPUBuffer; v: GPUBuffer }[] = [];
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

  private momentsOf(chunk: number): { m: GPUBuffer; v: GPUBuffer } {
    while (this.moments.length <= chunk) {
      const zeros = new Float32Array(this.params.chunks[this.moments.length]!.floats);
      this.moments.push({ m: this.gpu.upload(zeros, `adam.m[${this.moments.length}]`), v: this.gpu.upload(zeros, `adam.v[${this.moments.length}]`) });
    }
    return this.moments[chunk]!;
  }

  /**
   * torch's clip_grad_norm_, without a pass of its own: measures the global norm of the current
   * gradients and reads it back (with whether any is NaN or Inf); `update(g.scale)` then scales
   * the gradients by min(1, maxNorm / norm) as it reads them.
   */
  async clipGradNorm(maxNorm: number, lossScale = 1): Promise<GradNorm> {
    const stats = this.recordGradNorm(maxNorm, undefined, lossScale);
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
   * back; `alsoCheck` floats of it (the losses) being NaN/Inf also raise the NaN/Inf flag. One
   * pass per run of neighbouring gradients in the arena (one per chunk when every parameter has one).
   * `lossScale`: the gradients are of the loss times it (mixed precision); the stats are the true ones'.
   */
  recordGradNorm(maxNorm: number, alsoCheck?: { from: number; count: number }, lossScale = 1): GPUBuffer {
    const grads = this.params.gradRanges(true).map((r) => ({ buffer: this.params.chunks[r.chunk]!.grads, offset: r.offset, length: r.length }));
    gradNorm(this.gpu, grads, this.stepStats, maxNorm, alsoCheck, lossScale);
    return this.stepStats;
  }

  /**
   * Records one update from the parameters' current gradients (scaled by `clip` stats if given):
   * one dispatch per run of neighbours with the same decay flag (two per chunk when every
   * parameter has a gradient). Parameters without a gradient this step are left alone, as torch
   * does. With skipNonFinite the GPU leaves everything as it was when the stats flag a NaN or
   * Inf; the caller then learns it from the stats and calls undoStep().
   */
  update(clip?: GPUBuffer, skipNonFinite = false): void {
    this.step++;
    // The parameters are about to change: the f16 copies the products read are stale.
    dropHalfWeights(this.gpu);
    const ranges = this.params.gradRanges();
    for (let c = 0; c < this.params.chunks.length; c++) {
      const segments = ranges.filter((r) => r.chunk === c);
      if (!segments.length) continue;
      const chunk = this.params.chunks[c]!;
      const { m, v } = this.momentsOf(c);
      adamw(this.gpu, { params: chunk.params, grads: chunk.grads, m, v, segments, step: this.step, hyper: this.hyper, clip, skipNonFinite, label: `adamw[${c}]` });
    }
  }

  /** Takes back the count of an update the GPU skipped (skipNonFinite). */
  undoStep(): void {
    this.step--;
  }

  /** Moments as host arrays, for checkpoints. */
  async state(): Promise<Map<string, { m: Float32Array; v: Float32Array }>> {
    const out = new Map<string, { m: Float32Array; v: Float32Array }>();
    if (!this.moments.length) return out;
    const host = [];
    for (const mv of this.moments) host.push({ m: await this.gpu.read(mv.m), v: await this.gpu.read(mv.v) });
    for (const [name, p] of this.params.params) {
      const h = host[p.slot.chunk];
      if (!h) continue;
      const [a, b] = [p.slot.offset, p.slot.offset + p.tensor.size];
      out.set(name, { m: h.m.slice(a, b), v: h.v.slice(a, b) });
    }
    return out;
  }

  load(step: number, moments: Map<string, { m: Float32Array; v: Float32Array }>): void {
    this.step = step;
    for (const [name, s] of moments) {
      const p = this.params.params.get(name);
      if (!p) throw new ShapeError(`optimizer state has moments for "${name}", which this model lacks; it was made for another config`);
      const mv = this.momentsOf(p.slot.chunk);
      this.gpu.write(mv.m, s.m, p.slot.offset * 4);
      this.gpu.write(mv.v, s.v, p.slot.offset * 4);
    }
  }

  release(): void {
    if (this.stats) this.gpu.release(this.stats);
    this.stats = null;
    for (const { m, v } of this.moments) {
      this.gpu.release(m);
      this.gpu.release(v);
    }
    this.moments = [];
  }
}
