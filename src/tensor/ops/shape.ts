// Views on the tape: reshape and a range of rows of a parameter (the q, k, v blocks of a fused
// in_proj_weight). Both share storage with their source; their backward routes the view's
// gradient into the source's.
import { copyRows } from '../../../kernels/copy.ts';
import { gradAlreadyIn, newGrad, newZeroGrad } from '../grad.ts';
import { needsGrad } from '../tape.ts';
import { Tensor } from '../tensor.ts';
import { concatSeq } from './sequence.ts';

/** The same elements in another shape (no copy). */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const y = x.reshape(shape);
  const tape = needsGrad(x);
  if (tape) {
    y.requiresGrad = true;
    tape.record({
      op: 'reshape',
      inputs: [x],
      outputs: [y],
      saved: [],
      backward: ([dy]) => addInto(x, dy!, 0),
    });
  }
  return y;
}

/** Rows [start, start+count) of x along its first axis (no copy). */
export function narrowRows(x: Tensor, start: number, count: number): Tensor {
  const y = x.narrow(start, count);
  const tape = needsGrad(x);
  if (tape) {
    y.requiresGrad = true;
    const inner = x.size / x.shape[0]!;
    if (x.gradHome) y.gradView = { parent: x, at: start * inner };
    tape.record({
      op: 'narrowRows',
      inputs: [x],
      outputs: [y],
      saved: [],
      backward: ([dy]) => addInto(x, dy!, start * inner),
    });
  }
  return y;
}

/** x [L, C] repeated over a batch of B: [B, L, C] (the pooler's learned queries). */
export function expandBatch(x: Tensor, B: number): Tensor {
  return concatSeq([x], B);
}

/** x.grad[at : at + dy.size] += dy, creating x.grad (zeros where dy does not reach) first. */
function addInto(x: Tensor, dy: Tensor, at: number): void {
  const gpu = x.gpu;
  // A view of a parameter whose product wrote its gradient in place (gradSlot): nothing to add.
  if (gradAlreadyIn(x, dy, at)) return;
  if (!x.grad) {
    if (at === 0 && dy.size === x.size) {
      if (x.gradHome && x.gradHome.buffer !== dy.buffer) {
        // A parameter: its gradient lives in the arena; a buffer copy, not a kernel.
        x.grad = newGrad(x);
        gpu.copy(dy.buffer, x.grad.buffer, dy.size * 4, dy.offset * 4, x.grad.offset * 4);
        return;
      }
      // Whole-tensor view: its gradient can become x's without a copy.
      x.grad = dy.reshape(x.shape);
      return;
    }
    x.grad = newZeroGrad(x);
  }
  const flat = { batchStride: 0, rowStride: 0 };
  copyRows(gpu, { src: dy.buffer, dst: x.grad.buffer, B: 1, R: 1, C: dy.size, srcLayout: { ...flat, offset: dy.offset }, dstLayout: { ...flat, offset: x.grad.offset + at }, accumulate: true, label: 'view.grad' });
}
