// What every `coca train` run of an architecture other than CoCa is given (CoCa's TrainOptions in
// trainer.ts has these and more): where, how long, the optimiser and schedule, bookkeeping.

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
  strict?: boolean;
  progress: boolean;
}
