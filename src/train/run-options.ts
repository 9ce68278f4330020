// What every `coca train` run is given, whatever the architecture (CoCa's TrainOptions in
// trainer.ts and the other trainers' options add their own): where, how long, the optimiser and
// schedule, bookkeeping.

export interface RunOptions {
  data: string;
  out: string;
  steps: number;
  batch: number;
  lr: number;
  warmup: number;
  weightDecay: number;
  /** AdamW's; `coca train` passes DEFAULT_ADAMW's. */
  beta1: number;
  beta2: number;
  eps: number;
  clip: number;
  seed: number;
  valEvery: number;
  keep: number;
  /** Stop at the first picture that cannot be decoded instead of substituting another. */
  strict?: boolean;
  /** Progress bar on stderr (off in tests). */
  progress: boolean;
}
