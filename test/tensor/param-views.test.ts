// Views of a parameter (the q and k|v row blocks of a cross-attention's in_proj_weight and
// in_proj_bias) write their gradients straight into the parameter's place in the gradient arena
// (Tensor.gradView, gradSlot): checked against finite differences of a float64 reference with the
// arena poisoned (NaN) beforehand, so a range nobody wrote or zeroed shows; with one view unused,
// and with the parameter also used whole before or after its view (accumulation in either order).
// The dispatch count shows the copies are gone and the view's bias rides in dW's pass.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { matmulFusesRowSum } from '../../kernels/matmul.ts';
import { matmulRef } from '../../kernels/matmul.ref.ts';
import { concatCols } from '../../src/tensor/ops/columns.ts';
import { linear } from '../../src/tensor/ops/linear.ts';
import { narrowRows } from '../../src/tensor/ops/shape.ts';
import { Tape, withTape } from '../../src/tensor/tape.ts';
import { Tensor } from '../../src/tensor/tensor.ts';
import { testGpu } from '../helpers/gpu.ts';
import { checkOp } from '../helpers/opcheck.ts';
import { testRng } from '../helpers/seed.ts';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.pool.trim());

// d = 17 query rows of a [51, 7] in_proj over 2 × 19 tokens: dW's products (17 and 34 rows
// over 38) are big enough for the subgroup kernel where the adapter has it.
const d = 17;
const K = 7;
const T = 38;
const rows = (w: Float64Array, from: number, n: number) => w.subarray(from * K, (from + n) * K);
const lin = (x: Float64Array, w: Float64Array, b: Float64Array, n: number) => matmulRef(x, w, { M: T, N: n, K, batch: 1, transA: false, transB: true }, { bias: b });
/** [T, a] and [T, b] side by side → [T, a + b]. */
function cols(p: Float64Array, a: number, q: Float64Array, b: number): Float64Array {
  const out = new Float64Array(T * (a + b));
  for (let r = 0; r < T; r++) {
    out.set(p.subarray(r * a, (r + 1) * a), r * (a + b));
    out.set(q.subarray(r * b, (r + 1) * b), r * (a + b) + a);
  }
  return out;
}
const qView = (w: Tensor, b: Tensor) => [narrowRows(w, 0, d), narrowRows(b, 0, d)] as const;
const kvView = (w: Tensor, b: Tensor) => [narrowRows(w, d, 2 * d), narrowRows(b, d, 2 * d)] as const;

describe('gradients of parameter views, written in the arena', () => {
  it('q and k|v views of one in_proj: both ranges of the weight and the bias', () =>
    checkOp(gpu, testRng(31), {
      name: 'in_proj views',
      shapes: [[2, 19, K], [2, 19, K], [3 * d, K], [3 * d]],
      arena: [2, 3],
      gpu: ([xq, xkv, w, b]) => concatCols([linear(xq!, ...qView(w!, b!)), linear(xkv!, ...kvView(w!, b!))]),
      ref: ([xq, xkv, w, b]) => cols(lin(xq!, rows(w!, 0, d), b!.subarray(0, d), d), d, lin(xkv!, rows(w!, d, 2 * d), b!.subarray(d), 2 * d), 2 * d),
    }));

  it('one view unused: the rest of the parameter gradient is zero, not the poison', () =>
    checkOp(gpu, testRng(32), {
      name: 'q view only',
      shapes: [[2, 19, K], [3 * d, K], [3 * d]],
      arena: [1, 2],
      gpu: ([x, w, b]) => linear(x!, ...qView(w!, b!)),
      ref: ([x, w, b]) => lin(x!, rows(w!, 0, d), b!.subarray(0, d), d),
    }));

  it.each([
    ['whole first, then the view', false],
    ['the view first, then whole', true],
  ] as const)('the parameter used whole and through a view (%s): the gradients add', (_, viewFirst) =>
    checkOp(gpu, testRng(viewFirst ? 34 : 33), {
      name: 'whole + view',
      shapes: [[2, 19, K], [3 * d, K], [3 * d]],
      arena: [1, 2],
      gpu: ([x, w, b]) => {
        const whole = () => linear(x!, w!, b!);
        const view = () => linear(x!, ...kvView(w!, b!));
        if (viewFirst) {
          const v = view();
          return concatCols([v, whole()]);
        }
        const a = whole();
        return concatCols([a, view()]);
      },
      ref: ([x, w, b]) => {
        const a = lin(x!, w!, b!, 3 * d);
        const v = lin(x!, rows(w!, d, 2 * d), b!.subarray(d), 2 * d);
        return viewFirst ? cols(v, 2 * d, a, 3 * d) : cols(a, 3 * d, v, 2 * d);
      },
    }));

  it('no copy dispatch routes a view gradient, and a view bias rides in dW where the kernel fuses it', async () => {
    const rng = testRng(35);
    const arena = gpu.upload(new Float32Array(8 * 64).fill(NaN), 'grad-arena');
    const xq = Tensor.fromArray(gpu, rng.floats(T * K), [2, 19, K], 'xq');
    const xkv = Tensor.fromArray(gpu, rng.floats(T * K), [2, 19, K], 'xkv');
    const w = Tensor.fromArray(gpu, rng.floats(3 * d * K), [3 * d, K], 'w', true);
    const b = Tensor.fromArray(gpu, rng.floats(3 * d), [3 * d], 'b', true);
    w.gradHome = { buffer: arena, offset: 0 };
    b.gradHome = { buffer: arena, offset: 6 * 64 };
    const tape = new Tape();
    const y = withTape(tape, () => concatCols([linear(xq, ...qView(w, b)), linear(xkv, ...kvView(w, b))]));
    tape.keep(y);
    const before = gpu.counters.dispatches;
    tape.backward(y, Tensor.fromArray(gpu, rng.floats(y.size), y.shape, 'dy'));
    const dispatches = gpu.counters.dispatches - before;
    // concatCols' two gradient copies and one dW product per view; where the bias cannot ride
    // along (no subgroup kernel) its column sum and the copy into the bias's range come back.
    const unfused = [d, 2 * d].filter((n) => !matmulFusesRowSum(gpu, n, K, T)).length;
    expect(dispatches).toBe(2 + 2 + 2 * unfused);
    expect(w.grad!.buffer).toBe(arena);
    expect(b.grad!.buffer).toBe(arena);
    expect(Number.isNaN((await b.grad!.toArray())[3 * d - 1]!)).toBe(false);
    tape.dispose();
    y.release();
    for (const t of [xq, xkv, w, b]) t.release();
    gpu.release(arena);
  });
});
