// Elementwise ops on the tape: add (the residual connection), scale, mul, GELU.
import { add as addKernel, gelu as geluKernel, geluBackward, mul as mulKernel, scale as scaleKernel } from '../../../kernels/pointwise.ts';
import { ShapeError } from '../../gpu/errors.ts';
import { accumulateGrad, writeGrad } from '../grad.ts';
import { needsGrad } from '../tape.ts';
import { Tensor, shapeStr } from '../tensor.ts';

const ref = (t: Tensor) => ({ buffer: t.buffer, shape: t.shape, offset: t.offset });

function sameShape(op: string, a: Tensor, b: Tensor): void {
  if (a.size !== b.size || a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
    throw new ShapeError(`${op}: ${a.name} ${shapeStr(a.shape)} and ${b.name} ${shapeStr(b.shape)} differ in shape`);
  }
}

/** a + b (same shapes). */
export function add(a: Tensor, b: Tensor): Tensor {
  sameShape('add', a, b);
  const y = Tensor.empty(a.gpu, a.shape, 'add');
  addKernel(a.gpu, ref(a), ref(b), ref(y));
  const tape = needsGrad(a, b);
  if (tape) {
    y.requiresGrad = true;
    tape.record({
      op: 'add',
      inputs: [a, b],
      outputs: [y],
      saved: [],
      backward: ([dy]) => {
        if (a.requiresGrad) accumulateGrad(a, dy!);
        if (b.requiresGrad) accumulateGrad(b, dy!);
      },
    });
  }
  return y;
}

/** α·x. */
export function scale(x: Tensor, alpha: number): Tensor {
  const y = Tensor.empty(x.gpu, x.shape, 'scale');
  scaleKernel(x.gpu, ref(x), ref(y), alpha);
  const tape = needsGrad(x);
  if (tape) {
    y.requiresGrad = true;
    tape.record({ op: 'scale', inputs: [x], outputs: [y], saved: [], backward: ([dy]) => accumulateGrad(x, dy!, alpha) });
  }
  return y;
}

/** a·b elementwise (same shapes). */
export function mul(a: Tensor, b: Tensor): Tensor {
  sameShape('mul', a, b);
  const gpu = a.gpu;
  const y = Tensor.empty(gpu, a.shape, 'mul');
  mulKernel(gpu, ref(a), ref(b), ref(y));
  const tape = needsGrad(a, b);
  if (tape) {
    y.requiresGrad = true;
    tape.record({
      op: 'mul',
      inputs: [a, b],
      outputs: [y],
      saved: [a, b],
      backward: ([dy]) => {
        for (const [x, other] of [[a, b], [b, a]] as const) {
          if (x.requiresGrad) writeGrad(x, (g) => mulKernel(gpu, ref(dy!), ref(other), ref(g)));
        }
      },
    });
  }
  return y;
}

/** GELU, exact erf form (PyTorch's default). */
export function gelu(x: Tensor): Tensor {
  const gpu = x.gpu;
  const y = Tensor.empty(gpu, x.shape, 'gelu');
  geluKernel(gpu, ref(x), ref(y));
  const tape = needsGrad(x);
  if (tape) {
    y.requiresGrad = true;
    tape.record({
      op: 'gelu',
      inputs: [x],
      outputs: [y],
      saved: [x],
      backward: ([dy]) => writeGrad(x, (g) => geluBackward(gpu, ref(x), ref(dy!), ref(g))),
    });
  }
  return y;
}
