// The tape on the ops it has so far (linear, matmul): gradients against float64 references with
// a random upstream gradient, accumulation when a tensor is used twice, and memory handed back.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { linear, matmul } from '../../src/tensor/ops/linear.ts';
import { Tape, noGrad, withTape } from '../../src/tensor/tape.ts';
import { Tensor } from '../../src/tensor/tensor.ts';
import { matmulBackwardRef, matmulRef } from '../../kernels/matmul.ref.ts';
import { expectClose } from '../helpers/close.ts';
import { testGpu } from '../helpers/gpu.ts';
import { testRng } from '../helpers/seed.ts';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.pool.trim());

const tol = { atol: 1e-5, rtol: 1e-4 };

/** Float64 y = x·Wᵀ + b for x [M, in], W [out, in]. */
function linearRef(x: ArrayLike<number>, w: ArrayLike<number>, b: ArrayLike<number>, M: number, inF: number, out: number): Float64Array {
  return matmulRef(x, w, { M, N: out, K: inF, batch: 1, transA: false, transB: true }, { bias: b });
}

describe('tape', () => {
  it('two stacked linears: dx, dW, db of both match float64 with a random upstream gradient', async () => {
    const rng = testRng(1);
    const [M, a, h, o] = [7, 5, 11, 3];
    const xs = rng.floats(M * a), w1 = rng.floats(h * a), b1 = rng.floats(h), w2 = rng.floats(o * h), b2 = rng.floats(o), dy = rng.floats(M * o);
    const x = Tensor.fromArray(gpu, xs, [M, a], 'x', true);
    const W1 = Tensor.fromArray(gpu, w1, [h, a], 'W1', true);
    const B1 = Tensor.fromArray(gpu, b1, [h], 'b1', true);
    const W2 = Tensor.fromArray(gpu, w2, [o, h], 'W2', true);
    const B2 = Tensor.fromArray(gpu, b2, [o], 'b2', true);
    const tape = new Tape();
    const y = withTape(tape, () => linear(linear(x, W1, B1), W2, B2));
    expect(y.shape).toEqual([M, o]);
    tape.keep(y);
    tape.backward(y, Tensor.fromArray(gpu, dy, [M, o], 'dy'));

    const hRef = linearRef(xs, w1, b1, M, a, h);
    expectClose(await y.toArray(), linearRef(hRef, w2, b2, M, h, o), tol, 'y');
    // Backward by hand in float64: through layer 2, then layer 1.
    const l2 = matmulBackwardRef(hRef, w2, dy, { M, N: o, K: h, transA: false, transB: true });
    const l1 = matmulBackwardRef(xs, w1, l2.da, { M, N: h, K: a, transA: false, transB: true });
    const colSum = (g: ArrayLike<number>, n: number) => Float64Array.from({ length: n }, (_, j) => Array.from({ length: M }, (_, i) => g[i * n + j]!).reduce((s, v) => s + v, 0));
    expectClose(await W2.grad!.toArray(), l2.db, tol, 'dW2');
    expectClose(await B2.grad!.toArray(), colSum(dy, o), tol, 'db2');
    expectClose(await W1.grad!.toArray(), l1.db, tol, 'dW1');
    expectClose(await B1.grad!.toArray(), colSum(l2.da, h), tol, 'db1');
    expectClose(await x.grad!.toArray(), l1.da, tol, 'dx');
    tape.dispose();
    for (const t of [x, W1, B1, W2, B2, y]) {
      t.grad?.release();
      t.release();
    }
  });

  it('sums the gradients of a tensor used twice, and of a transposed product', async () => {
    const rng = testRng(2);
    const [M, K] = [6, 9];
    const as = rng.floats(M * K), dy = rng.floats(M * M);
    const A = Tensor.fromArray(gpu, as, [M, K], 'A', true);
    const tape = new Tape();
    // y = A·Aᵀ, so dA = (dy + dyᵀ)·A.
    const y = withTape(tape, () => matmul(A, A, { transB: true }));
    tape.backward(y, Tensor.fromArray(gpu, dy, [M, M], 'dy'));
    const sym = Float64Array.from({ length: M * M }, (_, i) => dy[i]! + dy[(i % M) * M + Math.floor(i / M)]!);
    expectClose(await A.grad!.toArray(), matmulRef(sym, as, { M, N: K, K: M, batch: 1, transA: false, transB: false }), tol, 'dA');
    tape.dispose();
    A.grad!.release();
    A.release();
  });

  it('hands every intermediate back to the pool; inference records nothing', async () => {
    const rng = testRng(3);
    const W = Tensor.fromArray(gpu, rng.floats(16 * 16), [16, 16], 'W', true);
    const x = Tensor.fromArray(gpu, rng.floats(4 * 16), [4, 16], 'x');
    const base = gpu.pool.snapshot().inUseBytes;
    const tape = new Tape();
    let y = withTape(tape, () => {
      let h = x;
      for (let i = 0; i < 5; i++) h = linear(h, W);
      return h;
    });
    expect(tape.length).toBe(5);
    tape.backward(y, Tensor.fromArray(gpu, rng.floats(4 * 16), [4, 16], 'dy'));
    tape.dispose();
    // What remains is W's gradient only.
    expect(gpu.pool.snapshot().inUseBytes - base).toBe(W.grad!.buffer.size);
    W.grad!.release();
    W.grad = null;
    const inf = new Tape();
    y = withTape(inf, () => noGrad(() => linear(x, W)));
    expect(inf.length).toBe(0);
    expect(y.requiresGrad).toBe(false);
    y.release();
    W.release();
    x.release();
  });
});
