// Dynamic loss scaling for mixed-precision training (`--precision f16`), as torch.cuda.amp's
// GradScaler: the backward starts from S·loss, so gradients too small for f16 (below 2^-24)
// survive the f16 products; the step divides S out again (the gradient norm and clip see the true
// gradients). A step whose gradients overflowed (Inf/NaN: the step's NaN/Inf flag, which already
// makes AdamW skip itself on the GPU) is skipped and S halved; after `growthInterval` clean steps
// in a row S doubles. The host decides, from the flag the step reads back anyway: no extra sync.

export interface LossScaleOptions {
  /** torch's defaults: 2^16, ×2 after 2000 clean steps, ×0.5 on an overflow. */
  initScale?: number;
  growthInterval?: number;
  growthFactor?: number;
  backoffFactor?: number;
}

/** What a checkpoint keeps of the scaler, so that a resumed run scales as an uninterrupted one. */
export interface LossScaleState {
  scale: number;
  cleanSteps: number;
}

export const DEFAULT_LOSS_SCALE: Readonly<Required<LossScaleOptions>> = { initScale: 2 ** 16, growthInterval: 2000, growthFactor: 2, backoffFactor: 0.5 };

/** The smallest scale kept: below it an overflow is not the scale's doing (and S must stay a normal f32). */
const MIN_SCALE = 2 ** -24;
/** The largest: S·loss and the f32 gradients must stay finite. */
const MAX_SCALE = 2 ** 64;

export class LossScaler {
  scale: number;
  /** Clean steps since the scale last changed. */
  cleanSteps = 0;
  readonly options: Readonly<Required<LossScaleOptions>>;

  constructor(o: LossScaleOptions = {}) {
    this.options = { ...DEFAULT_LOSS_SCALE, ...o };
    const { initScale, growthInterval, growthFactor, backoffFactor } = this.options;
    if (!(initScale >= MIN_SCALE && initScale <= MAX_SCALE)) throw new RangeError(`loss scale ${initScale} must lie in [2^-24, 2^64]`);
    if (!Number.isInteger(growthInterval) || growthInterval < 1) throw new RangeError(`loss-scale growth interval ${growthInterval} must be a positive integer`);
    if (!(growthFactor > 1) || !(backoffFactor > 0 && backoffFactor < 1)) throw new RangeError(`loss-scale growth factor ${growthFactor} must be > 1 and backoff ${backoffFactor} in (0, 1)`);
    this.scale = initScale;
  }

  /**
   * After a step: `overflowed` when its gradients held an Inf or NaN (the step was skipped).
   * Returns what changed, for the log.
   */
  update(overflowed: boolean): 'backoff' | 'growth' | null {
    if (overflowed) {
      this.scale = Math.max(MIN_SCALE, this.scale * this.options.backoffFactor);
      this.cleanSteps = 0;
      return 'backoff';
    }
    if (++this.cleanSteps < this.options.growthInterval) return null;
    this.cleanSteps = 0;
    if (this.scale * this.options.growthFactor > MAX_SCALE) return null;
    this.scale *= this.options.growthFactor;
    return 'growth';
  }

  state(): LossScaleState {
    return { scale: this.scale, cleanSteps: this.cleanSteps };
  }

  restore(s: LossScaleState): void {
    this.scale = s.scale;
    this.cleanSteps = s.cleanSteps;
  }
}
