// The convolutional ops on the tape end to end: forward against the float64 references, every
// input's gradient (through the op's backward rule and the kernels) against central finite
// differences of the same float64 function, with a random upstream gradient; parameter
// gradients also in an arena (bias right after the weight, as training lays them out). Then a
// small conv → batch norm → max pool → conv → global average pool chain, so gradients
// accumulate across ops as in a CNN tower.
import { afterAll, beforeAll, describe, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import type { Rng } from '../../src/util/prng.ts';
import { batchNorm, conv2d, globalAvgPool, maxPool2d } from '../../src/tensor/ops/cnn.ts';
import { add } from '../../src/tensor/ops/pointwise.ts';
import { Tensor } from '../../src/tensor/tensor.ts';
import { batchnormRef } from '../../kernels/batchnorm.ref.ts';
import { conv2dRef, type Conv2dRefDims } from '../../kernels/conv2d.ref.ts';
import { globalAvgPoolRef, maxPoolRef } from '../../kernels/pool.ref.ts';
import { testGpu } from '../helpers/gpu.ts';
import { checkOp } from '../helpers/opcheck.ts';
import { drawWithoutNearTies, minWindowGap } from '../helpers/pool-gap.ts';
import { testRng } from '../helpers/seed.ts';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.pool.trim());

// A pooling window's two largest inputs at least this far apart: 100× the finite-difference step
// (1e-6, which moves a pooled value by at most a few 1e-6 in the chain below) and far above
// float32's error in the values pooled (|n| ≲ 4, ~1e-6); rejects ~2 % (op) and ~3 % (chain) of draws.
const POOL_GAP = 1e-4;
const uniform = (shapes: number[][]) => (rng: Rng) => shapes.map((s) => rng.floats(s.reduce((a, b) => a * b, 1)));

const convDims = (B: number, Cin: number, H: number, W: number, Cout: number, K: number, s: number, p: number): Conv2dRefDims => ({ B, Cin, H, W, Cout, KH: K, KW: K, sh: s, sw: s, ph: p, pw: p });

describe('cnn ops on the tape', () => {
  it.each([
    ['own buffers', undefined],
    ['an arena', [1, 2]],
  ] as const)('conv2d with bias, stride 2, padding 1, gradients in %s', (_, arena) => {
    const d = convDims(2, 3, 7, 6, 5, 3, 2, 1);
    return checkOp(gpu, testRng(1), {
      name: 'conv2d',
      shapes: [[2, 3, 7, 6], [5, 3, 3, 3], [5]],
      arena: arena ? [...arena] : undefined,
      gpu: ([x, w, b]) => conv2d(x!, w!, b!, { stride: 2, padding: 1 }),
      ref: ([x, w, b]) => conv2dRef(x!, w!, b!, d),
    });
  });

  it('conv2d without bias, its input not needing a gradient', () =>
    checkOp(gpu, testRng(2), {
      name: 'conv2d (no bias)',
      shapes: [[1, 2, 5, 5], [3, 2, 2, 2]],
      grads: [false, true],
      gpu: ([x, w]) => conv2d(x!, w!, null),
      ref: ([x, w]) => conv2dRef(x!, w!, null, convDims(1, 2, 5, 5, 3, 2, 1, 0)),
    }));

  it.each([true, false])('batchNorm (training %s)', (training) => {
    const C = 3;
    const rm = [0.1, -0.2, 0.3];
    const rv = [0.5, 1.5, 2];
    return checkOp(gpu, testRng(3), {
      name: `batchNorm ${training ? 'training' : 'inference'}`,
      shapes: [[4, C, 2, 3], [C], [C]],
      gpu: ([x, w, b]) => batchNorm(x!, w!, b!, Tensor.fromArray(gpu, rm, [C], 'rm'), Tensor.fromArray(gpu, rv, [C], 'rv'), { training }),
      ref: ([x, w, b]) => batchnormRef(x!, w!, b!, 4, C, 6, { training, runningMean: rm, runningVar: rv }).y,
      tol: { atol: 2e-5, rtol: 1e-4 },
    });
  });

  it('maxPool2d 3x3 / 2, padding 1', () => {
    const pool = { planes: 6, H: 7, W: 5, KH: 3, KW: 3, sh: 2, sw: 2, ph: 1, pw: 1 };
    return checkOp(gpu, testRng(4), {
      name: 'maxPool2d',
      shapes: [[2, 3, 7, 5]],
      draw: (rng) => drawWithoutNearTies(rng, uniform([[2, 3, 7, 5]]), ([x]) => minWindowGap(x!, pool), POOL_GAP),
      gpu: ([x]) => maxPool2d(x!, { kernel: 3, stride: 2, padding: 1 }),
      ref: ([x]) => maxPoolRef(x!, pool).y,
    });
  });

  it('globalAvgPool', () =>
    checkOp(gpu, testRng(5), {
      name: 'globalAvgPool',
      shapes: [[3, 4, 5, 2]],
      gpu: ([x]) => globalAvgPool(x!),
      ref: ([x]) => globalAvgPoolRef(x!, 12, 10),
    }));

  it('a small CNN: conv → batch norm → max pool → conv (+ the input again through a strided 2x2 shortcut) → global average pool', () => {
    const [B, C, H, W, F] = [2, 2, 6, 5, 3];
    const c1 = convDims(B, C, H, W, F, 3, 1, 1);
    const c2 = convDims(B, F, 4, 3, F, 3, 1, 1);
    const sc = convDims(B, C, H, W, F, 2, 2, 1);
    const rm = [0, 0, 0];
    const rv = [1, 1, 1];
    const shapes = [[B, C, H, W], [F, C, 3, 3], [F], [F], [F], [F, F, 3, 3], [F, C, 2, 2]];
    // The gap is taken on what the pool sees: the batch norm's float64 output.
    const pooledGap = ([x, w1, b1, g, be]: Float32Array[]) => {
      const n = batchnormRef(conv2dRef(x!, w1!, b1!, c1), g!, be!, B, F, H * W, { training: true, runningMean: rm, runningVar: rv }).y;
      return minWindowGap(n, { planes: B * F, H, W, KH: 2, KW: 2, sh: 2, sw: 2, ph: 1, pw: 1 });
    };
    return checkOp(gpu, testRng(6), {
      name: 'cnn chain',
      shapes,
      draw: (rng) => drawWithoutNearTies(rng, uniform(shapes), pooledGap, POOL_GAP),
      gpu: ([x, w1, b1, g, be, w2, ws]) => {
        const h = conv2d(x!, w1!, b1!, { padding: 1 });
        const n = batchNorm(h, g!, be!, Tensor.fromArray(gpu, rm, [F], 'rm'), Tensor.fromArray(gpu, rv, [F], 'rv'), { training: true });
        const p = maxPool2d(n, { kernel: 2, stride: 2, padding: 1 });
        const y = conv2d(p, w2!, null, { padding: 1 });
        // x used twice: its gradient sums both paths.
        const s = conv2d(x!, ws!, null, { stride: 2, padding: 1 });
        return globalAvgPool(add(y, s));
      },
      ref: ([x, w1, b1, g, be, w2, ws]) => {
        const h = conv2dRef(x!, w1!, b1!, c1);
        const n = batchnormRef(h, g!, be!, B, F, H * W, { training: true, runningMean: rm, runningVar: rv }).y;
        const p = maxPoolRef(n, { planes: B * F, H, W, KH: 2, KW: 2, sh: 2, sw: 2, ph: 1, pw: 1 }).y;
        const y = conv2dRef(p, w2!, null, c2);
        const s = conv2dRef(x!, ws!, null, sc);
        return globalAvgPoolRef(y.map((v, i) => v + s[i]!), B * F, 12);
      },
      tol: { atol: 3e-5, rtol: 1e-4 },
    });
  });
});
