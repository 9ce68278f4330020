// Every op on the tape: forward against float64, backward against finite differences of the same
// float64 function, with a random upstream gradient, at awkward shapes.
import { afterAll, beforeAll, describe, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { linear, matmul } from '../../src/tensor/ops/linear.ts';
import { add, gelu, mul, scale } from '../../src/tensor/ops/pointwise.ts';
import { addBroadcastRow, concatSeq, sliceSeq } from '../../src/tensor/ops/sequence.ts';
import { geluRef } from '../../kernels/pointwise.ref.ts';
import { matmulRef } from '../../kernels/matmul.ref.ts';
import { testGpu } from '../helpers/gpu.ts';
import { checkOp } from '../helpers/opcheck.ts';
import { testRng } from '../helpers/seed.ts';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.pool.trim());

const map2 = (a: Float64Array, b: Float64Array, f: (x: number, y: number) => number) => a.map((x, i) => f(x, b[i]!));

describe('ops', () => {
  it('linear with bias, batched input', () =>
    checkOp(gpu, testRng(1), {
      name: 'linear',
      shapes: [[2, 3, 5], [7, 5], [7]],
      gpu: ([x, w, b]) => linear(x!, w!, b!),
      ref: ([x, w, b]) => matmulRef(x!, w!, { M: 6, N: 7, K: 5, batch: 1, transA: false, transB: true }, { bias: b }),
    }));

  it('batched matmul with transposes', () =>
    checkOp(gpu, testRng(2), {
      name: 'matmul',
      shapes: [[2, 5, 3], [2, 4, 5]],
      gpu: ([a, b]) => matmul(a!, b!, { transA: true, transB: true }),
      ref: ([a, b]) => matmulRef(a!, b!, { M: 3, N: 4, K: 5, batch: 2, transA: true, transB: true }),
    }));

  it('add, mul, scale, gelu', async () => {
    const rng = testRng(3);
    await checkOp(gpu, rng, { name: 'add', shapes: [[3, 7], [3, 7]], gpu: ([a, b]) => add(a!, b!), ref: ([a, b]) => map2(a!, b!, (x, y) => x + y) });
    await checkOp(gpu, rng, { name: 'mul', shapes: [[13], [13]], gpu: ([a, b]) => mul(a!, b!), ref: ([a, b]) => map2(a!, b!, (x, y) => x * y) });
    await checkOp(gpu, rng, { name: 'scale', shapes: [[5, 1]], gpu: ([a]) => scale(a!, -0.3), ref: ([a]) => a!.map((x) => -0.3 * x) });
    await checkOp(gpu, rng, { name: 'gelu', shapes: [[2, 9]], gpu: ([a]) => gelu(a!), ref: ([a]) => Float64Array.from(geluRef(a!)) });
  });

  it('a tensor used by two ops gets the sum of both gradients', () =>
    checkOp(gpu, testRng(4), {
      name: 'x*x + gelu(x)',
      shapes: [[11]],
      gpu: ([x]) => add(mul(x!, x!), gelu(x!)),
      ref: ([x]) => {
        const g = geluRef(x!);
        return x!.map((v, i) => v * v + g[i]!);
      },
    }));

  it('sequence slices, concatenation with a broadcast CLS row, position rows', async () => {
    const rng = testRng(5);
    const [B, L, C] = [3, 5, 4];
    await checkOp(gpu, rng, {
      name: 'sliceSeq',
      shapes: [[B, L, C]],
      gpu: ([x]) => sliceSeq(x!, 1, L - 2),
      ref: ([x]) => Float64Array.from({ length: B * (L - 2) * C }, (_, i) => {
        const b = Math.floor(i / ((L - 2) * C));
        const r = Math.floor(i / C) % (L - 2);
        return x![b * L * C + (r + 1) * C + (i % C)]!;
      }),
    });
    await checkOp(gpu, rng, {
      name: 'concatSeq(cls, x)',
      shapes: [[1, C], [B, L, C]],
      gpu: ([cls, x]) => concatSeq([cls!, x!]),
      ref: ([cls, x]) => Float64Array.from({ length: B * (L + 1) * C }, (_, i) => {
        const b = Math.floor(i / ((L + 1) * C));
        const r = Math.floor(i / C) % (L + 1);
        return r === 0 ? cls![i % C]! : x![b * L * C + (r - 1) * C + (i % C)]!;
      }),
    });
    await checkOp(gpu, rng, {
      name: 'addBroadcastRow',
      shapes: [[B, L, C], [L, C]],
      gpu: ([x, pos]) => addBroadcastRow(x!, pos!),
      ref: ([x, pos]) => x!.map((v, i) => v + pos![i % (L * C)]!),
    });
  });
});
