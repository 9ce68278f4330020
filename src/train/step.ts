// One training step: zero the gradients, forward, loss, backward, AdamW.
import type { CocaModel, PreparedInputs } from '../model/coca.ts';
import { lossAndBackward, type LossParts, type LossWeights, DEFAULT_LOSS_WEIGHTS } from '../model/loss.ts';
import type { AdamW } from './adamw.ts';

export async function trainStep(model: CocaModel, opt: AdamW, inp: PreparedInputs, weights: LossWeights = DEFAULT_LOSS_WEIGHTS): Promise<LossParts> {
  model.params.zeroGrad();
  const { parts } = await lossAndBackward(model, inp, weights);
  opt.update();
  return parts;
}

/** Random inputs shaped like a real batch, as scripts/reference/coca_torch.py's make_batch: rows end in 0, 2, 3 pads. */
export function syntheticBatch(model: CocaModel, B: number, rng: { normal(): number; int(n: number): number }): { images: Float32Array; text: Int32Array; batch: number } {
  const S = model.config.vision_cfg.image_size;
  const L = model.config.text_cfg.context_length;
  const V = model.config.text_cfg.vocab_size;
  const images = new Float32Array(B * 3 * S * S);
  for (let i = 0; i < images.length; i++) images[i] = rng.normal();
  const text = new Int32Array(B * L).fill(model.config.text_cfg.pad_id);
  for (let b = 0; b < B; b++) {
    const n = Math.max(3, L - [0, 2, 3][b % 3]!);
    text[b * L] = 1;
    for (let t = 1; t < n - 1; t++) text[b * L + t] = 3 + rng.int(V - 3);
    text[b * L + n - 1] = 2;
  }
  return { images, text, batch: B };
}
