// The contrastive loss as the training step uses it (kernels/contrastive.ts): not recorded on the
// tape, since it is where backward starts. It writes the loss and the clamped log-scale into a
// GPU buffer (nothing is read back) and, for training, returns the gradients of the embeddings
// (the tape's seeds) and writes the log-scale's own gradient into its .grad.
import { contrastive } from '../../../kernels/contrastive.ts';
import { newGrad } from '../grad.ts';
import { Tensor } from '../tensor.ts';

export interface ContrastiveOptions {
  maxLogScale: number;
  /** Two floats at out.at: the loss, then the clamped log-scale. */
  out: { buffer: GPUBuffer; at: number };
  /** Compute the gradients of weight·loss (training). */
  grads?: { weight: number };
  /** Write the clamped log-scale back into the parameter. */
  clampParam?: boolean;
  /** One id per row: rows sharing one are positives of each other (kernels/contrastive.ts). */
  groups?: ArrayLike<number>;
}

const ref = (t: Tensor) => ({ buffer: t.buffer, shape: t.shape, offset: t.offset });

/** Image and text embeddings [B, E] and the log-scale parameter [1]; with grads, d(weight·loss) of each embedding. */
export function contrastiveLoss(image: Tensor, text: Tensor, logScale: Tensor, o: ContrastiveOptions): { dImage: Tensor; dText: Tensor } | null {
  const gpu = image.gpu;
  let grads: { dImage: Tensor; dText: Tensor } | null = null;
  if (o.grads) {
    grads = { dImage: Tensor.empty(gpu, image.shape, 'd_image_embedding'), dText: Tensor.empty(gpu, text.shape, 'd_text_embedding') };
    // The log-scale only meets this loss: this is its whole gradient.
    logScale.grad?.release();
    logScale.grad = newGrad(logScale);
  }
  contrastive(gpu, {
    image: ref(image),
    text: ref(text),
    logScale: { buffer: logScale.buffer, offset: logScale.offset },
    maxLogScale: o.maxLogScale,
    out: { buffer: o.out.buffer, offset: o.out.at },
    grads: grads && o.grads ? { image: ref(grads.dImage), text: ref(grads.dText), logScale: { buffer: logScale.grad!.buffer, offset: logScale.grad!.offset }, weight: o.grads.weight } : undefined,
    clampParam: o.clampParam,
    groups: o.groups,
  });
  return grads;
}
