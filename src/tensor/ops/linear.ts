// Matrix products on the tape: matmul (batched, optional transposes) and linear (PyTorch's
// y = x·Wᵀ + b with W stored [out, in], as open_clip's state dicts hold it).
import { matmulFusesRowSum } from '../../../kernels/matmul.ts';
import { mlpRows, mlpRowsFits, mlpRowsPay } from '../../../kernels/mlp_rows.ts';
import { ShapeError } from '../../gpu/errors.ts';
import { accumulateGrad, addColumnSums, gradBuffer, gradSlot } from '../grad.ts';
import { needsGrad } from '../tape.ts';
import { precisionOf, recordProduct, storesHalfActivations, type ProductCall } from '../precision.ts';
import { bufferAt, Tensor, shapeStr } from '../tensor.ts';
import { productInput, type ProductInput } from './prenorm.ts';

const ref = (t: Tensor, shape: readonly number[] = t.shape) => ({ buffer: t.buffer, shape, offset: t.offset });

/**
 * y starts as a buffer copy of `residual` (of y's shape), which the matmul then accumulates onto:
 * the residual add of a transformer block without a pass of its own.
 */
function startFromResidual(y: Tensor, residual: Tensor | null | undefined): boolean {
  if (!residual) return false;
  fitsOutput(residual, y.shape);
  y.gpu.copy(residual.buffer, y.buffer, y.size * 4, residual.offset * 4, y.offset * 4);
  return true;
}

/** Throws unless the residual has the output's shape. */
function fitsOutput(residual: Tensor, shape: readonly number[]): void {
  if (residual.shape.length !== shape.length || residual.shape.some((d, i) => d !== shape[i])) {
    throw new ShapeError(`residual ${shapeStr(residual.shape)} does not fit the output ${shapeStr(shape)}`);
  }
}

/** The residual's share of the backward of y = residual + f(·): dy itself. */
function residualGrad(residual: Tensor | null | undefined, dy: Tensor): void {
  if (residual?.requiresGrad) accumulateGrad(residual, dy);
}

/**
 * y = x·Wᵀ + b (+ residual). x [..., in], W [out, in], b [out] → y [..., out]. The leading
 * dimensions are flattened into one (rows are independent). x may come with the layernorm to
 * apply first (PreNormed): y = LN(x)·Wᵀ + b.
 */
export function linear(input: ProductInput, weight: Tensor, bias?: Tensor | null, residual?: Tensor | null): Tensor {
  const [out, inF] = weight.shape as [number, number];
  const { x, read, layernorm } = productInput(input, out, [weight, bias, residual]);
  const xin = x.shape[x.shape.length - 1]!;
  if (weight.shape.length !== 2 || xin !== inF) throw new ShapeError(`linear: x ${shapeStr(x.shape)} does not fit weight ${shapeStr(weight.shape)} (last dim of x must equal weight's ${inF} inputs)`);
  if (bias && (bias.shape.length !== 1 || bias.shape[0] !== out)) throw new ShapeError(`linear: bias ${shapeStr(bias.shape)} does not fit weight ${shapeStr(weight.shape)}`);
  const M = x.size / inF;
  const gpu = x.gpu;
  const y = Tensor.empty(gpu, [...x.shape.slice(0, -1), out], 'linear');
  const accumulate = startFromResidual(y, residual);
  recordProduct(
    gpu,
    {
      a: ref(read, [M, inF]),
      b: ref(weight, [out, inF]),
      c: ref(y, [M, out]),
      transB: true,
      bias: bias ? { buffer: bias.buffer, offset: bias.offset } : undefined,
      accumulate,
      layernorm,
      label: `linear(${layernorm ? 'ln, ' : ''}${M}x${inF}→${out}${accumulate ? ', +residual' : ''})`,
    },
    weight,
  );
  const tape = needsGrad(x, weight, bias, residual);
  if (tape) {
    y.requiresGrad = true;
    tape.record({
      op: 'linear',
      inputs: [x, weight, ...(bias ? [bias] : []), ...(residual ? [residual] : [])],
      outputs: [y],
      saved: [x, weight],
      backward: ([dy]) => {
        residualGrad(residual, dy!);
        if (x.requiresGrad) {
          const { grad, accumulate } = gradSlot(x);
          recordProduct(gpu, { a: ref(dy!, [M, out]), b: ref(weight), c: ref(grad, [M, inF]), accumulate, label: 'linear.dx' }, weight);
        }
        linearParamGrads(dy!, x, weight, bias ?? null, M);
      },
    });
  }
  return y;
}

/**
 * dW += dyᵀ·x and db += column sums of dy, for y = x·Wᵀ + b with x [M, in], dy [M, out]. The
 * bias gradient rides along in dW's pass where the kernel can (matmul rowSumA), written into
 * dW's buffer: both must live there (a parameter arena); else a column reduction of its own.
 */
export function linearParamGrads(dy: Tensor, x: Tensor, weight: Tensor, bias: Tensor | null, M: number, xStored?: ProductCall['b']): void {
  const gpu = x.gpu;
  const [out, inF] = weight.shape as [number, number];
  const home = gradBuffer;
  // The f16 products have no row-sum fusion.
  const fuseBias = !!bias?.requiresGrad && weight.requiresGrad && home(bias) !== undefined && home(bias) === home(weight) && precisionOf(gpu) === 'f32' && matmulFusesRowSum(gpu, out, inF, M);
  if (weight.requiresGrad) {
    const { grad, accumulate } = gradSlot(weight);
    const b = fuseBias ? gradSlot(bias!) : null;
    if (b && b.grad.buffer !== grad.buffer) throw new Error(`linear: the bias gradient of ${bias!.name} left dW's buffer`);
    const rowSumA = b ? { offset: b.grad.offset, accumulate: b.accumulate } : undefined;
    recordProduct(gpu, { a: ref(dy, [M, out]), b: xStored ?? ref(x, [M, inF]), c: ref(grad), transA: true, accumulate, rowSumA, label: fuseBias ? 'linear.dW+db' : 'linear.dW' });
  }
  if (bias?.requiresGrad && !fuseBias) addColumnSums(bias, dy, M, out);
}

/**
 * A pre-norm MLP of a batch-1 decoding step's row with nothing to differentiate, in one dispatch
 * with the two products' bits (kernels/mlp_rows.ts); null where that does not apply (no layernorm
 * before it, a tape recording, f16 precision, more rows than pay, shapes it does not take).
 */
function mlpRowsOf(input: ProductInput, w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor, residual: Tensor | null | undefined): Tensor | null {
  if (input instanceof Tensor) return null;
  const { x, norm } = input;
  const gpu = x.gpu;
  const [hid, inF] = w1.shape as [number, number];
  const out = w2.shape[0]!;
  const M = x.size / inF;
  if (norm.weight.size !== inF || norm.bias.size !== inF || precisionOf(gpu) !== 'f32') return null;
  if (!mlpRowsPay(gpu, M) || !mlpRowsFits(gpu, inF, hid, w1.offset, w2.offset) || needsGrad(x, norm.weight, norm.bias, w1, b1, w2, b2, residual)) return null;
  const shape = [...x.shape.slice(0, -1), out];
  if (residual) fitsOutput(residual, shape);
  const y = Tensor.empty(gpu, shape, 'mlp');
  mlpRows(gpu, { M, K: inF, hidden: hid, N: out, x: bufferAt(x), gamma: bufferAt(norm.weight), beta: bufferAt(norm.bias), w1: bufferAt(w1), b1: bufferAt(b1), w2: bufferAt(w2), b2: bufferAt(b2), residual: residual ? bufferAt(residual) : undefined, y: bufferAt(y) });
  return y;
}

/**
 * c_proj(GELU(c_fc(x))) (+ residual) in two matmuls: the first applies bias and GELU in its epilogue and keeps
 * the pre-activation; the backward folds GELU' into the product that makes the hidden gradient.
 * x [..., in], w1 [hidden, in], b1 [hidden], w2 [out, hidden], b2 [out] → [..., out].
 */
export function mlpGelu(input: ProductInput, w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor, residual?: Tensor | null): Tensor {
  const [hid, inF] = w1.shape as [number, number];
  const [out, hid2] = w2.shape as [number, number];
  const xin = (input instanceof Tensor ? input : input.x).shape.at(-1);
  if (w1.shape.length !== 2 || w2.shape.length !== 2 || xin !== inF || hid2 !== hid || b1.size !== hid || b2.size !== out) {
    const x = input instanceof Tensor ? input : input.x;
    throw new ShapeError(`mlp: x ${shapeStr(x.shape)}, c_fc ${shapeStr(w1.shape)} + ${shapeStr(b1.shape)}, c_proj ${shapeStr(w2.shape)} + ${shapeStr(b2.shape)} do not fit together`);
  }
  const rows = mlpRowsOf(input, w1, b1, w2, b2, residual);
  if (rows) return rows;
  const { x, read, layernorm } = productInput(input, hid, [w1, b1, w2, b2, residual]);
  const M = x.size / inF;
  const gpu = x.gpu;
  const h = Tensor.empty(gpu, [M, hid], 'mlp.preact');
  // The hidden activation (the block's largest) is read only by products: in f16 precision it is
  // stored as f16, which they would round it to anyway.
  const halfG = storesHalfActivations(gpu);
  const g = halfG ? Tensor.empty(gpu, [Math.ceil((M * hid) / 2)], 'mlp.gelu(f16)') : Tensor.empty(gpu, [M, hid], 'mlp.gelu');
  const gRef = halfG ? { buffer: g.buffer, shape: [M, hid], offset: 2 * g.offset, half: true } : ref(g);
  recordProduct(gpu, { a: ref(read, [M, inF]), b: ref(w1), c: gRef, transB: true, bias: { buffer: b1.buffer, offset: b1.offset }, gelu: { mode: 'apply', preact: { buffer: h.buffer, offset: h.offset } }, layernorm, label: `linear+gelu(${layernorm ? 'ln, ' : ''}${M}x${inF}→${hid})` }, w1);
  const y = Tensor.empty(gpu, [...x.shape.slice(0, -1), out], 'mlp');
  const accumulate = startFromResidual(y, residual);
  recordProduct(gpu, { a: gRef, b: ref(w2), c: ref(y, [M, out]), transB: true, bias: { buffer: b2.buffer, offset: b2.offset }, accumulate, label: `linear(${M}x${hid}→${out}${accumulate ? ', +residual' : ''})` }, w2);
  const tape = needsGrad(x, w1, b1, w2, b2, residual);
  if (!tape) {
    h.release();
    g.release();
    return y;
  }
  y.requiresGrad = true;
  tape.track(h);
  tape.track(g);
  tape.record({
    op: 'mlpGelu',
    inputs: [x, w1, b1, w2, b2, ...(residual ? [residual] : [])],
    outputs: [y],
    saved: [x, w1, w2, h, g],
    backward: ([dy]) => {
      residualGrad(residual, dy!);
      linearParamGrads(dy!, g, w2, b2, M, gRef);
      if (!x.requiresGrad && !w1.requiresGrad && !b1.requiresGrad) return;
      // dh = (dy·W2) ⊙ GELU'(h), in one pass.
      const dh = Tensor.empty(gpu, [M, hid], 'mlp.dh');
      recordProduct(gpu, { a: ref(dy!, [M, out]), b: ref(w2), c: ref(dh), gelu: { mode: 'grad', preact: { buffer: h.buffer, offset: h.offset } }, label: 'linear.dx+dgelu' }, w2);
      if (x.requiresGrad) {
        const { grad, accumulate } = gradSlot(x);
        recordProduct(gpu, { a: ref(dh), b: ref(w1), c: ref(grad, [M, inF]), accumulate, label: 'linear.dx' }, w1);
      }
      linearParamGrads(dh, x, w1, b1, M);
      dh.release();
    },
  });
  return y;
}

/**
 * Batched product op(a)·op(b): a [B?, M, K] (or [B?, K, M] with transA), b likewise; a 2-D
 * operand is broadcast over the batch. `a` may come with the layernorm to apply to its rows first
 * (PreNormed, not with transA).
 */
export function matmul(input: ProductInput, b: Tensor, opts: { transA?: boolean; transB?: boolean } = {}): Tensor {
  const transA = opts.transA ?? false;
  const transB = opts.transB ?? false;
  if (transA && !(input instanceof Tensor)) throw new ShapeError('matmul: a layernorm before the product normalises rows of a, which transA reads as columns');
  const batched = (input instanceof Tensor ? input : input.x).shape.length === 3 || b.shape.length === 3;
  const { x: a, read, layernorm } = productInput(input, transB ? b.shape[b.shape.length - 2]! : b.shape[b.shape.length - 1]!, [b], batched);
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
  recordProduct(gpu, { a: ref(read), b: ref(b), c: ref(y, [batch, M, N]), transA, transB, layernorm }, b);
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
        // The broadcast operand's gradient would be a sum over the batch; the other's is a
        // batched product with the broadcast operand, as in the forward.
        if ((bA < bB && a.requiresGrad) || (bB < bA && b.requiresGrad)) {
          throw new ShapeError('matmul backward: a broadcast operand needs a batch reduction, not supported yet');
        }
        // With C = op(A)·op(B): dop(A) = dC·op(B)ᵀ and dop(B) = op(A)ᵀ·dC; stored layouts follow.
        if (a.requiresGrad) {
          const { grad, accumulate } = gradSlot(a);
          if (!transA) recordProduct(gpu, { a: dY, b: ref(b), c: ref(grad, [batch, rA, cA]), transB: !transB, accumulate }, b);
          else recordProduct(gpu, { a: ref(b), b: dY, c: ref(grad, [batch, rA, cA]), transA: transB, transB: true, accumulate });
        }
        if (b.requiresGrad) {
          const { grad, accumulate } = gradSlot(b);
          if (!transB) recordProduct(gpu, { a: ref(a), b: dY, c: ref(grad, [batch, rB, cB]), transA: !transA, accumulate });
          else recordProduct(gpu, { a: dY, b: ref(a), c: ref(grad, [batch, rB, cB]), transA: true, transB: transA, accumulate }, a);
        }
      },
    });
  }
  return y;
}
