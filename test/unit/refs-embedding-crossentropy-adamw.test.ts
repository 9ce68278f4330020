// The float64 references of the embedding, cross-entropy and AdamW families checked against
// float64 central finite differences (or, for AdamW, which has no backward, against values
// worked out by hand) at tiny sizes. No GPU.
import { describe, expect, it } from 'vitest';
import { adamwRef, gradNormRef } from '../../kernels/adamw.ref.ts';
import { crossEntropyBackwardRef, crossEntropyRef } from '../../kernels/crossentropy.ref.ts';
import { embeddingBackwardRef, embeddingRef } from '../../kernels/embedding.ref.ts';
import { numericGrad } from '../helpers/finite-diff.ts';
import { testRng } from '../helpers/seed.ts';
import type { Rng } from '../../src/util/prng.ts';

// Central differences with h = 1e-5 are exact for linear maps and off by O(h²)·f''' otherwise;
// 1e-7 sits far below any missing or transposed term (O(1)).
const FD_TOL = 1e-7;

function f64(rng: Rng, n: number, lo = -1, hi = 1): Float64Array {
  return Float64Array.from({ length: n }, () => rng.uniform(lo, hi));
}

function expectNear(got: ArrayLike<number>, want: ArrayLike<number>, tol: number, what: string): void {
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < got.length; i++) {
    if (!(Math.abs(got[i]! - want[i]!) <= tol * (1 + Math.abs(want[i]!)))) expect.fail(`${what}[${i}]: ${got[i]} vs finite difference ${want[i]}`);
  }
}

describe('embedding reference backward', () => {
  it('dTable and dPos match finite differences, repeated ids included', () => {
    const rng = testRng(1);
    const [B, T, V, D] = [2, 3, 4, 3];
    const ids = [1, 3, 1, 0, 1, 3];
    const table = f64(rng, V * D);
    const pos = f64(rng, T * D);
    const dout = f64(rng, B * T * D);
    const { dTable, dPos } = embeddingBackwardRef(dout, ids, V, D, T);
    expectNear(dTable, numericGrad((t) => embeddingRef(t, ids, D, { table: pos, T }), table, dout), FD_TOL, 'dTable');
    expectNear(dPos!, numericGrad((p) => embeddingRef(table, ids, D, { table: p, T }), pos, dout), FD_TOL, 'dPos');
    expect(B * T).toBe(ids.length);
  });
});

describe('cross-entropy reference backward', () => {
  it('dlogits of dloss·mean loss match finite differences, ignored rows and vocabulary 1 included', () => {
    const rng = testRng(2);
    for (const [N, V, targets] of [
      [4, 5, [2, -100, 0, 4]],
      [3, 1, [0, 0, -100]],
      [2, 3, [-100, -100]],
    ] as [number, number, number[]][]) {
      const logits = f64(rng, N * V, -3, 3);
      const dloss = rng.uniform(-2, 2);
      const fd = numericGrad((x) => Float64Array.of(crossEntropyRef(x, targets, V, -100).loss), logits, Float64Array.of(dloss));
      expectNear(crossEntropyBackwardRef(logits, targets, V, -100, dloss), fd, FD_TOL, `dlogits N=${N} V=${V}`);
    }
  });

  it('the loss is log-sum-exp minus the target logit, also where exp would overflow', () => {
    const r = crossEntropyRef([1e4, 1e4 - Math.log(3), -1e4], [1], 3, -100);
    expect(r.loss).toBeCloseTo(Math.log(3) + Math.log(1 + 1 / 3), 10);
  });
});

describe('AdamW reference', () => {
  it('step 1 is p·(1 − lr·wd) − lr·g/(|g| + eps); a no-decay segment skips the first factor', () => {
    const h = { lr: 0.1, beta1: 0.8, beta2: 0.95, eps: 1e-3, weightDecay: 0.5 };
    const g = [0.5, -2, 0.25];
    const s = { param: Float64Array.of(1, -3, 2), m: new Float64Array(3), v: new Float64Array(3) };
    adamwRef(s, g, [{ offset: 0, length: 2, decay: true }, { offset: 2, length: 1, decay: false }], 1, h);
    // The bias corrections undo the (1 − β) factors exactly at step 1: m̂ = g, v̂ = g².
    const want = [1 * (1 - 0.05) - (0.1 * 0.5) / (0.5 + 1e-3), -3 * (1 - 0.05) + (0.1 * 2) / (2 + 1e-3), 2 - (0.1 * 0.25) / (0.25 + 1e-3)];
    expectNear(s.param, want, 1e-14, 'params');
    expectNear(s.m, g.map((x) => 0.2 * x), 1e-14, 'm');
    expectNear(s.v, g.map((x) => 0.05 * x * x), 1e-14, 'v');
  });

  it('step 2 follows the bias-corrected moments', () => {
    const h = { lr: 0.1, beta1: 0.8, beta2: 0.95, eps: 0, weightDecay: 0 };
    const s = { param: Float64Array.of(0), m: new Float64Array(1), v: new Float64Array(1) };
    adamwRef(s, [1], [{ offset: 0, length: 1, decay: true }], 1, h);
    adamwRef(s, [3], [{ offset: 0, length: 1, decay: true }], 2, h);
    const mHat = (0.8 * 0.2 * 1 + 0.2 * 3) / (1 - 0.64);
    const vHat = (0.95 * 0.05 * 1 + 0.05 * 9) / (1 - 0.9025);
    expectNear(s.param, [-0.1 - (0.1 * mHat) / Math.sqrt(vHat)], 1e-14, 'param after 2 steps');
  });

  it('grad norm and clip scale as clip_grad_norm_', () => {
    const r = gradNormRef([[3], [0, 4]], 1);
    expect(r.norm).toBe(5);
    expect(r.scale).toBeCloseTo(1 / (5 + 1e-6), 15);
    expect(gradNormRef([[3, 4]], 10).scale).toBe(1);
    expect(gradNormRef([[1, NaN]]).nonfinite).toBe(true);
  });
});
