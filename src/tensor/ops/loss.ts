// Cross-entropy on the tape: mean over the rows whose target is not ignored, as
// torch.nn.functional.cross_entropy (kernels/crossentropy.ts), label_smoothing included.
import { crossEntropy as ceKernel, crossEntropyBackward, IGNORE_INDEX } from '../../../kernels/crossentropy.ts';
import type { TokenIds } from '../../../kernels/embedding.ts';
import { writeGrad } from '../grad.ts';
import { needsGrad } from '../tape.ts';
import { Tensor } from '../tensor.ts';

/** logits [N, V] (or [B, T, V]) against targets of the leading shape → a scalar [1]; `smoothing`: torch's label_smoothing ε. */
export function crossEntropy(logits: Tensor, targets: TokenIds, ignoreIndex = IGNORE_INDEX, smoothing = 0): Tensor {
  const gpu = logits.gpu;
  const V = logits.shape[logits.shape.length - 1]!;
  const N = logits.size / V;
  const loss = Tensor.empty(gpu, [1], 'cross_entropy');
  const stats = Tensor.empty(gpu, [N, 2], 'ce.stats');
  const ref = (t: Tensor, shape = t.shape) => ({ buffer: t.buffer, shape, offset: t.offset });
  ceKernel(gpu, { logits: ref(logits, [...targets.shape, V]), targets, ignoreIndex, loss: ref(loss), stats: ref(stats), smoothing });
  const tape = needsGrad(logits);
  if (!tape) {
    stats.release();
    return loss;
  }
  loss.requiresGrad = true;
  tape.track(stats);
  tape.record({
    op: 'crossEntropy',
    inputs: [logits],
    outputs: [loss],
    saved: [logits, stats],
    backward: ([dl]) =>
      writeGrad(logits, (g) =>
        crossEntropyBackward(gpu, { logits: ref(logits, [...targets.shape, V]), targets, ignoreIndex, stats: ref(stats), dlogits: ref(g, [...targets.shape, V]), dloss: dl!.buffer, smoothing }),
      ),
  });
  return loss;
}
