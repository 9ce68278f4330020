// Where a backward rule writes an input's gradient: the input's existing .grad (then the kernel
// accumulates into it) or a fresh buffer that becomes .grad. Kernels with an accumulate flag
// (matmul) thereby sum gradients from several uses of one tensor without an extra add.
import { addInPlace, scale } from '../../kernels/pointwise.ts';
import { Tensor } from './tensor.ts';

export interface GradSlot {
  grad: Tensor;
  accumulate: boolean;
}

export function gradSlot(x: Tensor): GradSlot {
  if (x.grad) return { grad: x.grad, accumulate: true };
  x.grad = Tensor.empty(x.gpu, x.shape, `grad(${x.name})`);
  return { grad: x.grad, accumulate: false };
}

/** x.grad += alpha·dy (or x.grad = alpha·dy when x has none yet). */
export function accumulateGrad(x: Tensor, dy: Tensor, alpha = 1): void {
  const gpu = x.gpu;
  const r = (t: Tensor) => ({ buffer: t.buffer, shape: x.shape, offset: t.offset });
  if (x.grad) addInPlace(gpu, r(x.grad), r(dy), 1, alpha);
  else {
    x.grad = Tensor.empty(gpu, x.shape, `grad(${x.name})`);
    scale(gpu, r(dy), r(x.grad), alpha);
  }
}
