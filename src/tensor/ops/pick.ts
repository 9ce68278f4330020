// Greedy decoding's pick on the device (kernels/argmax.ts), off the tape: the first largest
// logit of each row after the search's masks, written as u32 token ids into a buffer the next
// decoding step's embedding reads (src/infer/greedy-device.ts).
import { argmaxRows, type PickMasks } from '../../../kernels/argmax.ts';
import { ShapeError } from '../../gpu/errors.ts';
import { needsGrad } from '../tape.ts';
import type { Tensor } from '../tensor.ts';

export type { PickMasks };

/** Writes the pick of each row of `logits` [N, V] into `out` (N u32 ids); a row whose `prev` id is [EOT] gets [EOT]. */
export function pickTokens(logits: Tensor, prev: GPUBuffer | null, out: GPUBuffer, masks: PickMasks): void {
  if (needsGrad(logits)) throw new ShapeError(`pickTokens: ${logits.name} is on the tape; decoding picks under noGrad()`);
  argmaxRows(logits.gpu, { logits: { buffer: logits.buffer, shape: logits.shape, offset: logits.offset }, prev: prev ? { buffer: prev } : null, out: { buffer: out }, masks, label: 'pick' });
}
