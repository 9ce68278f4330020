// Where a backward rule writes an input's gradient: the input's existing .grad (then the kernel
// accumulates into it) or a fresh buffer that becomes .grad. Kernels with an accumulate flag
// (matmul) thereby sum gradients from several uses of one tensor without an extra add.
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
