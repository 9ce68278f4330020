// Captions from a captioner that is not CoCa (Show and Tell, Show-Attend-Tell, prefix) through the same searches as
// CoCa's: its decode state is a Stepper (feed tokens, get next-word logits, reorder rows).
import type { Captioner } from '../model/captioners/captioner.ts';
import type { CaptionOptions } from './caption.ts';
import { beamSearch, greedyOrSample, type Caption } from './search.ts';
import type { Stepper } from './stepper.ts';

/** One caption per picture of `images` [B, 3, S, S] (normalised CHW). */
export async function captionWithLstm(model: Captioner, images: Float32Array, B: number, opts: CaptionOptions): Promise<Caption[]> {
  const sampling = opts.sample !== undefined;
  const beams = sampling ? 1 : opts.beams;
  const d = model.config.decoder_cfg;
  const maxLen = Math.min(opts.maxLen, d.context_length);
  const search = { pad: d.pad_id, ...opts };
  const stepper: Stepper = model.beginDecode(images, B, beams, { recordAttention: opts.recordAttention });
  try {
    return beams === 1 ? await greedyOrSample(stepper, maxLen, search) : await beamSearch(stepper, maxLen, search);
  } finally {
    stepper.release();
  }
}
