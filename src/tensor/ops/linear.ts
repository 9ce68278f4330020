// Matrix products on the tape: matmul (batched, optional transposes) and linear (PyTorch's
// y = x·Wᵀ + b with W stored [out, in], as open_clip's state dicts hold it).
import { matmul as matmulKernel, matmulFusesRowSum } from '../../../kernels/matmul.ts';
import { ShapeError } from '../../gpu/errors.ts';
import { addColumnSums, gradSlot } from '../grad.ts';
import { needsGrad } from '../tape.ts';
import { Tensor, shapeStr } from '../tensor.ts';

const ref = (t: Tensor, shape: readonly number[] = t.shape) => ({ buffer: t.buffer, shape, offset: t.offset });

/**
 * y = x·Wᵀ + b. x [..., in], W [out, in], b [out] → y [..., out]. The leading dimensions are
 * flattened into one (rows are independent).
 */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  const [out, inF] = weight.shape as [number, number];
  const xin = x.shape[x.shape.length - 1]!;
  if (weight.shape.length !== 2 || xin !== inF) throw new ShapeError(`linear: x ${shapeStr(x.shape)} does not fit weight ${shapeStr(weight.shape)} (last dim of x must equal weight's ${inF} inputs)`);
  if (bias && (bias.shape.length !== 1 || bias.shape[0] !== out)) throw new ShapeError(`linear: bias ${shapeStr(bias.shape)} does not fit weight ${shapeStr(weight.shape)}`);
  const M = x.size / inF;
  const gpu = x.gpu;
  const y = Tensor.empty(gpu, [...x.shape.slice(0, -1), out], 'linear');
  matmulKernel(gpu, {
    a: ref(x, [M, inF]),
    b: ref(weight, [out, inF]),
    c: ref(y, [M, out]),
    transB: true,
    bias: bias ? { buffer: bias.buffer, offset: bias.offset } : undefined,
    label: `linear(${M}x${inF}→${out})`,
  });
  const tape = needsGrad(x, weight, bias);
  if (tape) {
    y.requiresGrad = true;
    tape.record({
      op: 'linear',
      inputs: bias ? [x, weight, bias] : [x, weight],
      outputs: [y],
      saved: [x, weight],
      backward: ([dy]) => {
        if (x.requiresGrad) {
          const { grad, accumulate } = gradSlot(x);
          matmulKernel(gpu, { a: ref(dy!, [M, out]), b: ref(weight), c: ref(grad, [M, inF]), accumulate, label: 'linear.dx' });
        }
        // The bias gradient (column sums of dy) rides along in dW's pass where the kernel can.
        // It is written into dW's buffer: both must live there (a parameter arena).
        const home = (t: Tensor) => t.grad?.buffer ?? t.gradHome?.buffer;
        const fuseBias = !!bias?.requiresGrad && weight.requiresGrad && home(bias) !== undefined && home(bias) === home(weight) && matmulFusesRowSum(gpu, out, inF, M);
        if (weight.requiresGrad) {
          const { grad, accumulate } = gradSlot(weight);
          const b = fuseBias ? gradSlot(bias!) : null;
          const rowSumA = b ? { offset: b.grad.offset, accumulate: b.accumulate } : undefined;
          matmulKernel(gpu, { a: ref(dy!, [M, out]), b: ref(x, [M, inF]), c: ref(grad), transA: true, accumulate, rowSumA, label: fuseBias ? 'linear.dW+db' : 'linear.dW' });
        }
        if (bias?.requiresGrad && !fuseBias) addColumnSums(bias, dy!, M, out);
      },
    });
  }
  return y;
}

/**
 * Batched product op(a)·op(b): a [B?, M, K] (or [B?, K, M] with transA), b likewise; a 2-D
 * operand is broadcast over the batch.
 */
export function matmul(a: Tensor, b: Tensor, opts: { transA?: boolean; transB?: boolean } = {}): Tensor {
  const transA = opts.transA ?? false;
  const transB = opts.transB ?? false;
  const dims = (t: Tensor): [number, number, number] => {
    if (t.shape.length === 2) return [1, t.shape[0]!, t.shape[1]!];
    if (t.shape.length === 3) return [t.shape[0]!, t.shape[1]!, t.shape[2]!];
    throw new ShapeError(`matmul: ${t} must be 2-D or 3-D`);
  };
  const [bA, rA, cA] = dims(a);
  const [bB, rB, cB] = dims(b);
  const M = transA ? cA : rA;
  const N = transB ? rB : cB;
  const batch = Math.max(bA, bB);
  const gpu = a.gpu;
  const y = Tensor.empty(gpu, batch > 1 || a.shape.length === 3 || b.shape.length === 3 ? [batch, M, N] : [M, N], 'matmul');
  matmulKernel(gpu, { a: ref(a), b: ref(b), c: ref(y, [batch, M, N]), transA, transB });
  const tape = needsGrad(a, b);
  if (tape) {
    y.requiresGrad = true;
    tape.record({
      op: 'matmul',
      inputs: [a, b],
      outputs: [y],
      saved: [a, b],
      backward: ([dy]) => {
        const dY = ref(dy!, [batch, M, N]);
        if (bA !== bB && (a.requiresGrad || b.requiresGrad)) {
          throw new ShapeError('matmul backward: a broadcast operand needs a batch reduction, not supported yet');
        }
        // With C = op(A)·op(B): dop(A) = dC·op(B)ᵀ and dop(B) = op(A)ᵀ·dC; stored layouts follow.
        if (a.requiresGrad) {
          const { grad, accumulate } = gradSlot(a);
          if (!transA) matmulKernel(gpu, { a: dY, b: ref(b), c: ref(grad, [batch, rA, cA]), transB: !transB, accumulate });
          else matmulKernel(gpu, { a: ref(b), b: dY, c: ref(grad, [batch, rA, cA]), transA: transB, transB: true, accumulate });
        }
        if (b.requiresGrad) {
          const { grad, accumulate } = gradSlot(b);
          if (!transB) matmulKernel(gpu, { a: ref(a), b: dY, c: ref(grad, [batch, rB, cB]), transA: !transA, accumulate });
          else matmulKernel(gpu, { a: dY, b: ref(a), c: ref(grad, [batch, rB, cB]), transA: true, transB: transA, accumulate });
        }
      },
    });
  }
  return y;
}
