// One training step of an LSTM captioner (Show and Tell, Show-Attend-Tell), as CoCa's trainStep:
// zero the gradients, forward with teacher forcing, loss (caption cross-entropy + the doubly
// stochastic regulariser where there is one), backward, global gradient-norm clip, AdamW, all
// recorded on the GPU and read back once.
import type { Captioner } from '../model/captioners/captioner.ts';
import type { CaptionBatch } from '../model/captioners/lstm.ts';
import { noGrad, Tape, withTape } from '../tensor/tape.ts';
import { Tensor, tidy } from '../tensor/tensor.ts';
import type { Rng } from '../util/prng.ts';
import { STEP_LOSS_AT, STEP_NONFINITE, STEP_STATS_FLOATS, type AdamW } from './adamw.ts';

export interface CaptionerStepReport {
  caption: number;
  /** The regulariser's value (λ included); 0 where the model has none. */
  regulariser: number;
  total: number;
  gradNorm: number;
  nonFinite: string | null;
}

export async function captionerTrainStep(model: Captioner, opt: AdamW, batch: CaptionBatch, o: { clip: number; lr?: number; rng: Rng }): Promise<CaptionerStepReport> {
  const gpu = model.gpu;
  const stats = opt.stepStats;
  model.params.zeroGrad();
  const tape = new Tape();
  const terms = withTape(tape, () => model.forwardLoss(batch, { training: true, rng: o.rng }));
  try {
    gpu.write(stats, new Float32Array(2), STEP_LOSS_AT * 4);
    const seeds: [Tensor, Tensor][] = [];
    [terms.caption, terms.regulariser].forEach((t, i) => {
      if (!t) return;
      gpu.copy(t.buffer, stats, 4, t.offset * 4, (STEP_LOSS_AT + i) * 4);
      tape.keep(t);
      seeds.push([t, Tensor.fromArray(gpu, [1], [1], 'd_loss')]);
    });
    tape.backwardFrom(seeds);
  } finally {
    tape.dispose();
    for (const t of [terms.caption, terms.regulariser]) t?.release();
    terms.release();
  }
  opt.recordGradNorm(o.clip, { from: STEP_LOSS_AT, count: 2 });
  const lr = opt.hyper.lr;
  if (o.lr !== undefined) opt.hyper.lr = o.lr;
  opt.update(stats, true);
  const st = await gpu.read(stats, STEP_STATS_FLOATS, 0, 'train:step');
  const [caption, regulariser] = [st[STEP_LOSS_AT]!, st[STEP_LOSS_AT + 1]!];
  const total = caption + regulariser;
  const nonFinite = !Number.isFinite(total) ? `the loss is ${total}` : st[STEP_NONFINITE] !== 0 ? 'a gradient is NaN or Inf' : null;
  if (nonFinite) {
    opt.undoStep();
    opt.hyper.lr = lr;
  }
  return { caption, regulariser, total, gradNorm: st[0]!, nonFinite };
}

/** The loss terms of one batch in inference mode (running statistics, no dropout), no gradients. */
export async function captionerLoss(model: Captioner, batch: CaptionBatch): Promise<{ caption: number; regulariser: number }> {
  const r = noGrad(() =>
    tidy(() => {
      const terms = model.forwardLoss(batch, { training: false });
      terms.release();
      return { caption: terms.caption, regulariser: terms.regulariser ?? terms.caption };
    }),
  );
  const caption = (await r.caption.toArray())[0]!;
  const regulariser = r.regulariser === r.caption ? 0 : (await r.regulariser.toArray())[0]!;
  r.caption.release();
  r.regulariser.release();
  return { caption, regulariser };
}
