// The autograd tape: every differentiable op records its backward rule beside its forward, and
// backward() walks the records in reverse.
//
// Memory: an op lists the tensors its backward reads (`saved`). During backward each record's
// saved tensors and its output gradients are released as soon as no earlier record (still to
// run) needs them, so the peak is the forward activations plus one layer's gradients, not the
// whole graph twice. Outputs of recorded ops that nobody kept are released by dispose().
import type { Gpu } from '../gpu/gpu.ts';
import { DeferredColumnSums } from './deferred-sums.ts';
import { Tensor } from './tensor.ts';

export interface TapeOptions {
  /**
   * Fold the column sums of parameter gradients (layernorms' dγ, dβ) once at the end of a
   * backward pass, in one dispatch, instead of one or two per op (default true; the same bits).
   */
  deferColumnSums?: boolean;
  /**
   * Fold a pre-norm linear's layernorm into the product that reads it, which then also writes the
   * normalised rows, means and 1/σ the backward needs (src/tensor/ops/prenorm.ts; where the
   * product runs on the subgroup matmul), instead of a layernorm dispatch before it (default
   * true; the same bits).
   */
  fuseLayernorm?: boolean;
}

export interface TapeEntry {
  op: string;
  inputs: Tensor[];
  outputs: Tensor[];
  /** Tensors the backward rule reads (beyond the output gradients). */
  saved: Tensor[];
  /**
   * Given the gradients of the outputs (null where an output got none), adds the gradients of
   * the inputs that require them, with accumulateGrad.
   */
  backward(gradOutputs: (Tensor | null)[]): void;
}

export class Tape {
  private entries: TapeEntry[] = [];
  /** Tensors created by recorded ops; released by dispose() unless kept. */
  private created = new Set<Tensor>();
  private kept = new Set<Tensor>();
  private sums: DeferredColumnSums | null = null;

  constructor(private readonly options: TapeOptions = {}) {}

  /** Where a backward rule queues column sums for the end of the pass; null when they are folded at once. */
  columnSums(gpu: Gpu): DeferredColumnSums | null {
    if (this.options.deferColumnSums === false) return null;
    return (this.sums ??= new DeferredColumnSums(gpu));
  }

  /** Whether products fold the layernorm before them in (TapeOptions.fuseLayernorm). */
  get fusesLayernorm(): boolean {
    return this.options.fuseLayernorm !== false;
  }

  get length(): number {
    return this.entries.length;
  }

  record(entry: TapeEntry): void {
    this.entries.push(entry);
    for (const o of entry.outputs) {
      o.creator = entry;
      this.created.add(o);
    }
  }

  /** Tracks a tensor an op made that is not an output (scratch it saved for backward). */
  track(t: Tensor): void {
    this.created.add(t);
  }

  /** Keeps a tensor alive past dispose() (the caller releases it). */
  keep(t: Tensor): Tensor {
    this.kept.add(t);
    return t;
  }

  /**
   * Backpropagates from `root` (a scalar loss, unless `seed` gives its gradient). Gradients of
   * leaves that require them accumulate in `.grad`; the caller owns and releases those.
   */
  backward(root: Tensor, seed?: Tensor): void {
    if (!seed && root.size !== 1) throw new Error(`backward() from ${root} needs a seed gradient: it is not a scalar`);
    this.backwardFrom([[root, seed ?? Tensor.fromArray(root.gpu, [1], root.shape, 'grad(loss)')]]);
  }

  /** Backpropagates from several outputs at once, each with its upstream gradient (owned by the tape). */
  backwardFrom(seeds: [Tensor, Tensor][]): void {
    const roots = new Set<Tensor>();
    for (const [t, g] of seeds) {
      if (t.grad) throw new Error(`${t} is seeded twice`);
      t.grad = g;
      roots.add(t);
    }
    // How many records still to run read each tensor: saved by them, or an input of them.
    const pending = new Map<Tensor, number>();
    const bump = (t: Tensor) => pending.set(t, (pending.get(t) ?? 0) + 1);
    for (const e of this.entries) for (const t of [...e.saved, ...e.inputs]) bump(t);
    for (let i = this.entries.length - 1; i >= 0; i--) {
      const e = this.entries[i]!;
      const grads = e.outputs.map((o) => o.grad);
      if (grads.some((g) => g !== null) && e.inputs.some((x) => x.requiresGrad)) e.backward(grads);
      for (const o of e.outputs) {
        // An intermediate's gradient is dead once its producer has run.
        if (o.grad && o.creator === e && !this.kept.has(o)) {
          o.grad.release();
          o.grad = null;
        }
      }
      for (const t of [...e.saved, ...e.inputs]) {
        const n = pending.get(t)! - 1;
        pending.set(t, n);
        if (n === 0 && this.created.has(t) && !this.kept.has(t) && !roots.has(t)) t.release();
      }
    }
    this.sums?.flush();
  }

  /** Releases every tensor recorded ops made and nobody kept, and forgets the records. */
  dispose(): void {
    for (const t of this.created) {
      if (!this.kept.has(t)) {
        t.grad?.release();
        t.grad = null;
        t.release();
      }
      t.creator = null;
    }
    this.entries = [];
    this.created.clear();
    this.kept.clear();
  }
}

let active: Tape | null = null;

/** Runs `fn` with `tape` recording (training step). */
export function withTape<T>(tape: Tape, fn: () => T): T {
  const prev = active;
  active = tape;
  try {
    return fn();
  } finally {
    active = prev;
  }
}

/** Runs `fn` with nothing recorded (inference). */
export function noGrad<T>(fn: () => T): T {
  const prev = active;
  active = null;
  try {
    return fn();
  } finally {
    active = prev;
  }
}

/** Whether an op with these inputs must record its backward. */
export function needsGrad(...inputs: (Tensor | null | undefined)[]): Tape | null {
  if (!active) return null;
  return inputs.some((t) => t?.requiresGrad) ? active : null;
}
