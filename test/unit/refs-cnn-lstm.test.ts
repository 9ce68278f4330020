// The float64 references' backward passes of the conv2d, batch norm, pooling and LSTM cell
// families are the gradients of their forwards: central finite differences at tiny sizes,
// against a random upstream gradient (Σ f(x)·dout, never a plain sum, which hides transposed
// indices). No GPU.
import { describe, expect, it } from 'vitest';
import { conv2dBackwardRef, conv2dRef, conv2dRefOut, type Conv2dRefDims } from '../../kernels/conv2d.ref.ts';
import { globalAvgPoolBackwardRef, globalAvgPoolRef, maxPoolBackwardRef, maxPoolRef, type PoolRefDims } from '../../kernels/pool.ref.ts';
import { batchnormBackwardRef, batchnormRef } from '../../kernels/batchnorm.ref.ts';
import { lstmCellBackwardRef, lstmCellRef, lstmSequenceBackwardRef, lstmSequenceRef } from '../../kernels/lstm.ref.ts';
import { numericGrad } from '../helpers/finite-diff.ts';
import { drawWithoutNearTies, minWindowGap } from '../helpers/pool-gap.ts';
import { testRng } from '../helpers/seed.ts';

const f64 = (a: Float32Array) => Float64Array.from(a);

/** Max |a − b| relative to max(1, |b|∞): finite differences at h = 1e-5 agree to ~1e-9. */
function expectGrad(got: Float64Array, numeric: Float64Array, what: string, tol = 1e-7): void {
  expect(got.length, `${what}: length`).toBe(numeric.length);
  let worst = 0;
  const scale = Math.max(1, ...numeric.map(Math.abs));
  for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i]! - numeric[i]!) / scale);
  expect(worst, what).toBeLessThan(tol);
}

describe('conv2d reference gradients', () => {
  it.each([
    ['3x3, padding 1', { B: 2, Cin: 2, H: 5, W: 4, Cout: 3, KH: 3, KW: 3, sh: 1, sw: 1, ph: 1, pw: 1 }],
    ['3x2, stride 2x3, padding 1x0', { B: 1, Cin: 3, H: 7, W: 8, Cout: 2, KH: 3, KW: 2, sh: 2, sw: 3, ph: 1, pw: 0 }],
  ] as [string, Conv2dRefDims][])('dx, dw, dbias (%s)', (_, d) => {
    const rng = testRng(10);
    const [OH, OW] = conv2dRefOut(d);
    const x = f64(rng.floats(d.B * d.Cin * d.H * d.W));
    const w = f64(rng.floats(d.Cout * d.Cin * d.KH * d.KW));
    const b = f64(rng.floats(d.Cout));
    const dout = f64(rng.floats(d.B * d.Cout * OH * OW));
    const g = conv2dBackwardRef(x, w, dout, d);
    expectGrad(g.dx, numericGrad((v) => conv2dRef(v, w, b, d), x, dout), 'dx');
    expectGrad(g.dw, numericGrad((v) => conv2dRef(x, v, b, d), w, dout), 'dw');
    expectGrad(g.dbias, numericGrad((v) => conv2dRef(x, w, v, d), b, dout), 'dbias');
  });
});

describe('pooling reference gradients', () => {
  it('max pool, overlapping windows with padding (inputs redrawn until no window has a tie within 100 h)', () => {
    const rng = testRng(20);
    const d: PoolRefDims = { planes: 3, H: 6, W: 5, KH: 3, KW: 3, sh: 2, sw: 2, ph: 1, pw: 1 };
    // The step h = 1e-5 moves the maximum of a window whose top two lie within h (15 of 20,000
    // uniform draws failed so).
    const x = f64(drawWithoutNearTies(rng, (r) => r.floats(d.planes * d.H * d.W), (v) => minWindowGap(v, d), 1e-3));
    const { y, idx } = maxPoolRef(x, d);
    const dout = f64(rng.floats(y.length));
    expectGrad(maxPoolBackwardRef(idx, dout, d), numericGrad((v) => maxPoolRef(v, d).y, x, dout), 'dx');
  });
  it('global average pool', () => {
    const rng = testRng(21);
    const x = f64(rng.floats(4 * 7));
    const dout = f64(rng.floats(4));
    expectGrad(globalAvgPoolBackwardRef(dout, 4, 7), numericGrad((v) => globalAvgPoolRef(v, 4, 7), x, dout), 'dx');
  });
});

describe('batch norm reference gradients', () => {
  it.each([true, false])('dx, dγ, dβ (training %s)', (training) => {
    const rng = testRng(30);
    const [B, C, S] = [3, 2, 5];
    const x = f64(rng.floats(B * C * S, -2, 2));
    const gamma = f64(rng.floats(C, 0.5, 1.5));
    const beta = f64(rng.floats(C));
    const o = { training, runningMean: f64(rng.floats(C)), runningVar: f64(rng.floats(C, 0.5, 2)) };
    const dout = f64(rng.floats(B * C * S));
    const { mean, rstd } = batchnormRef(x, gamma, beta, B, C, S, o);
    const g = batchnormBackwardRef(x, gamma, mean, rstd, dout, B, C, S, training);
    expectGrad(g.dx, numericGrad((v) => batchnormRef(v, gamma, beta, B, C, S, o).y, x, dout), 'dx');
    expectGrad(g.dgamma, numericGrad((v) => batchnormRef(x, v, beta, B, C, S, o).y, gamma, dout), 'dgamma');
    expectGrad(g.dbeta, numericGrad((v) => batchnormRef(x, gamma, v, B, C, S, o).y, beta, dout), 'dbeta');
  });
});

describe('LSTM reference gradients', () => {
  it('the cell: d pre-activations and dc from dh′ and dc′', () => {
    const rng = testRng(40);
    const [B, H] = [2, 3];
    const pre = f64(rng.floats(B * 4 * H, -3, 3));
    const c = f64(rng.floats(B * H));
    const [dh, dc] = [f64(rng.floats(B * H)), f64(rng.floats(B * H))];
    const out = (p: Float64Array, cc: Float64Array) => {
      const r = lstmCellRef(p, cc, B, H);
      return Float64Array.from([...r.h, ...r.c]);
    };
    const dout = Float64Array.from([...dh, ...dc]);
    const g = lstmCellBackwardRef(lstmCellRef(pre, c, B, H).acts, c, dh, dc, B, H);
    expectGrad(g.dgates, numericGrad((v) => out(v, c), pre, dout), 'dgates');
    expectGrad(g.dcPrev, numericGrad((v) => out(pre, v), c, dout), 'dc_prev');
  });

  it('a sequence, back through time: dx, dh0, dc0, dW, db', () => {
    const rng = testRng(41);
    const d = { T: 3, B: 2, I: 3, H: 2 };
    const K = d.I + d.H;
    const [x, h0, c0] = [f64(rng.floats(d.T * d.B * d.I)), f64(rng.floats(d.B * d.H)), f64(rng.floats(d.B * d.H))];
    const [w, b] = [f64(rng.floats(4 * d.H * K)), f64(rng.floats(4 * d.H))];
    const [dhs, dcT] = [f64(rng.floats(d.T * d.B * d.H)), f64(rng.floats(d.B * d.H))];
    const dout = Float64Array.from([...dhs, ...dcT]);
    const out = (xx: Float64Array, hh: Float64Array, cc: Float64Array, ww: Float64Array, bb: Float64Array) => {
      const r = lstmSequenceRef(xx, hh, cc, ww, bb, d);
      return Float64Array.from([...r.hs, ...r.cT]);
    };
    const g = lstmSequenceBackwardRef(x, h0, c0, w, b, dhs, dcT, d);
    expectGrad(g.dx, numericGrad((v) => out(v, h0, c0, w, b), x, dout), 'dx');
    expectGrad(g.dh0, numericGrad((v) => out(x, v, c0, w, b), h0, dout), 'dh0');
    expectGrad(g.dc0, numericGrad((v) => out(x, h0, v, w, b), c0, dout), 'dc0');
    expectGrad(g.dw, numericGrad((v) => out(x, h0, c0, v, b), w, dout), 'dW');
    expectGrad(g.db, numericGrad((v) => out(x, h0, c0, w, v), b, dout), 'db');
  });
});
