// The float64 references' backward passes of the pointwise, softmax and layernorm families are
// the gradients of their forwards: central finite differences at tiny sizes, against a random
// upstream gradient (Σ f(x)·dout, never a plain sum, which hides transposed indices). No GPU.
import { describe, expect, it } from 'vitest';
import { geluBackwardRef, geluRef, mulRef, axpbyRef } from '../../kernels/pointwise.ref.ts';
import { softmaxBackwardRef, softmaxRef } from '../../kernels/softmax.ref.ts';
import { layernormBackwardRef, layernormRef } from '../../kernels/layernorm.ref.ts';
import { numericGrad } from '../helpers/finite-diff.ts';
import { testRng } from '../helpers/seed.ts';

const f64 = (a: Float32Array) => Float64Array.from(a);

/** Max |a − b| relative to max(1, |b|∞): finite differences at h = 1e-5 agree to ~1e-9. */
function expectGrad(got: Float64Array, numeric: Float64Array, what: string, tol = 1e-7): void {
  let worst = 0;
  const scale = Math.max(1, ...numeric.map(Math.abs));
  for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i]! - numeric[i]!) / scale);
  expect(worst, what).toBeLessThan(tol);
}

describe('pointwise reference gradients', () => {
  it('GELU', () => {
    const rng = testRng(1);
    const x = f64(rng.floats(17, -5, 5));
    const dout = f64(rng.floats(17));
    expectGrad(geluBackwardRef(x, dout), numericGrad((v) => geluRef(v), x, dout), 'dGELU/dx');
  });
  it('mul and axpby', () => {
    const rng = testRng(2);
    const [x, y, dout] = [f64(rng.floats(9)), f64(rng.floats(9)), f64(rng.floats(9))];
    const dx = Float64Array.from(dout, (d, i) => 0.7 * d * y[i]!);
    expectGrad(dx, numericGrad((v) => mulRef(v, y, 0.7), x, dout), 'd(αxy)/dx');
    const dxb = new Float64Array(3);
    for (let i = 0; i < 9; i++) dxb[i % 3] += -1.5 * dout[i]!; // the broadcast row sums over rows
    expectGrad(dxb, numericGrad((b) => axpbyRef(x, b, 1, -1.5, 3), f64(rng.floats(3)), dout), 'd(x − 1.5·bias)/dbias');
  });
});

describe('softmax reference gradient', () => {
  it('with scale', () => {
    const rng = testRng(3);
    const [rows, cols, scale] = [4, 5, 0.6];
    const x = f64(rng.floats(rows * cols, -2, 2));
    const dout = f64(rng.floats(rows * cols));
    const y = softmaxRef(x, rows, cols, scale);
    expectGrad(softmaxBackwardRef(y, dout, rows, cols, scale), numericGrad((v) => softmaxRef(v, rows, cols, scale), x, dout), 'dsoftmax/dx');
  });
});

describe('layernorm reference gradients', () => {
  it('dx, dγ, dβ', () => {
    const rng = testRng(4);
    const [rows, cols] = [3, 6];
    const x = f64(rng.floats(rows * cols, -2, 2));
    const gamma = f64(rng.floats(cols, 0.5, 1.5));
    const beta = f64(rng.floats(cols));
    const dout = f64(rng.floats(rows * cols));
    const { mean, rstd } = layernormRef(x, gamma, beta, rows, cols);
    const g = layernormBackwardRef(x, gamma, mean, rstd, dout, rows, cols);
    expectGrad(g.dx, numericGrad((v) => layernormRef(v, gamma, beta, rows, cols).y, x, dout), 'dx');
    expectGrad(g.dgamma, numericGrad((v) => layernormRef(x, v, beta, rows, cols).y, gamma, dout), 'dgamma');
    expectGrad(g.dbeta, numericGrad((v) => layernormRef(x, gamma, v, rows, cols).y, beta, dout), 'dbeta');
  });
});
