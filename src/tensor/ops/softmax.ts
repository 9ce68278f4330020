// Softmax over the last axis on the tape (kernels/softmax.ts forward and backward): the
// attention weights of Show-Attend-Tell, which its doubly stochastic regulariser differentiates,
// so they cannot come out of the fused attention kernel (that one gives no gradient for them).
import { softmax as softmaxKernel, softmaxBackward } from '../../../kernels/softmax.ts';
import { ShapeError } from '../../gpu/errors.ts';
import { accumulateGrad } from '../grad.ts';
import { needsGrad } from '../tape.ts';
import { Tensor, shapeStr } from '../tensor.ts';

const ref = (t: Tensor) => ({ buffer: t.buffer, shape: t.shape, offset: t.offset });

/** softmax(x) over the last axis, x [..., C]. */
export function softmaxRows(x: Tensor): Tensor {
  if (x.shape.length < 1 || x.size === 0) throw new ShapeError(`softmaxRows: x ${shapeStr(x.shape)} is empty`);
  const gpu = x.gpu;
  const y = Tensor.empty(gpu, x.shape, 'softmax');
  softmaxKernel(gpu, { x: ref(x), y: ref(y) });
  const tape = needsGrad(x);
  if (!tape) return y;
  y.requiresGrad = true;
  tape.record({
    op: 'softmaxRows',
    inputs: [x],
    outputs: [y],
    saved: [y],
    backward: ([dy]) => {
      const dx = Tensor.empty(gpu, x.shape, 'softmax.dx');
      softmaxBackward(gpu, { y: ref(y), dy: ref(dy!), dx: ref(dx) });
      accumulateGrad(x, dx);
      dx.release();
    },
  });
  return y;
}
