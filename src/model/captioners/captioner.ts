// What training, `coca eval`, `coca caption` and `coca serve` need of a captioner that is not
// CoCa (Show and Tell, Show-Attend-Tell, the prefix captioner): a teacher-forced forward with its
// loss terms, and a decode state in the shape of infer's Stepper, so the step, the trainer's
// validation, the searches and the serve engine are shared.
import type { Gpu } from '../../gpu/gpu.ts';
import type { ParamStore } from '../../nn/params.ts';
import type { CaptionBatch, ForwardOptions, LossTerms, LstmDecode } from './lstm.ts';

export type CaptionerArch = 'showtell' | 'sat' | 'prefix';

export interface Captioner {
  readonly gpu: Gpu;
  readonly params: ParamStore;
  readonly arch: CaptionerArch;
  readonly config: { readonly decoder_cfg: { readonly context_length: number; readonly pad_id: number; readonly vocab_size: number } };
  /** The image tower's feature map is grid × grid (attention overlays: Show-Attend-Tell's). */
  readonly encoder: { readonly grid: number };
  forwardLoss(batch: CaptionBatch, o: ForwardOptions): LossTerms;
  beginDecode(images: Float32Array, B: number, beams: number, o?: { recordAttention?: boolean }): LstmDecode;
}
