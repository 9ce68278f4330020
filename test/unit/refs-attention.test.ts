// The float64 attention reference backward against central finite differences of the reference
// forward, at tiny shapes with causal and padding masks and a fully masked row. No GPU.
import { describe, expect, it } from 'vitest';
import { attentionBackwardRef, attentionRef, type AttentionDims } from '../../kernels/attention.ref.ts';
import { numericGrad } from '../helpers/finite-diff.ts';
import { testRng } from '../helpers/seed.ts';
import type { Rng } from '../../src/util/prng.ts';

// Softmax is smooth, so central differences with h = 1e-5 are off by O(h²) ≈ 1e-10 times third
// derivatives of order 1; 1e-7 sits far below any missing or transposed term (O(0.1)).
const FD_TOL = 1e-7;

const f64 = (rng: Rng, n: number) => Float64Array.from({ length: n }, () => rng.uniform(-1, 1));

function expectNear(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < got.length; i++) {
    if (!(Math.abs(got[i]! - want[i]!) <= FD_TOL * (1 + Math.abs(want[i]!)))) expect.fail(`${what}[${i}]: ${got[i]} vs finite difference ${want[i]}`);
  }
}

function check(d: AttentionDims, salt: number): void {
  const rng = testRng(salt);
  const { B, H, Lq, Lk, D } = d;
  // Scores of order 1 to 3 so that the softmax is far from uniform.
  const q = f64(rng, B * H * Lq * D).map((x) => 2 * x);
  const k = f64(rng, B * H * Lk * D);
  const v = f64(rng, B * H * Lk * D);
  const dout = f64(rng, B * H * Lq * D);
  const g = attentionBackwardRef(q, k, v, dout, d);
  expectNear(g.dq, numericGrad((x) => attentionRef(x, k, v, d).o, q, dout), 'dQ');
  expectNear(g.dk, numericGrad((x) => attentionRef(q, x, v, d).o, k, dout), 'dK');
  expectNear(g.dv, numericGrad((x) => attentionRef(q, k, x, d).o, v, dout), 'dV');
}

describe('attention reference backward', () => {
  it('matches finite differences without masks, Lq ≠ Lk', () => check({ B: 1, H: 2, Lq: 3, Lk: 4, D: 3 }, 1));

  it('matches with causal + padding masks, a non-default scale and a fully masked row', () => {
    // causalOffset −1: query 0 sees no key, so its gradients must be exactly zero.
    const d: AttentionDims = { B: 2, H: 1, Lq: 4, Lk: 4, D: 2, scale: 0.7, causal: true, causalOffset: -1, keyMask: [1, 1, 0, 1, 0, 1, 1, 1] };
    check(d, 2);
    const { o, lse } = attentionRef(new Float64Array(16).fill(0.5), new Float64Array(16).fill(0.5), new Float64Array(16).fill(1), d);
    expect(lse[0]).toBe(-Infinity);
    expect([o[0], o[1]]).toEqual([0, 0]);
  });

  it('rows are convex combinations of V: constant V gives constant O', () => {
    const d: AttentionDims = { B: 1, H: 1, Lq: 2, Lk: 5, D: 2, causal: true };
    const rng = testRng(3);
    const { o, p } = attentionRef(f64(rng, 4), f64(rng, 10), new Float64Array(10).fill(0.25), d);
    for (const x of o) expect(x).toBeCloseTo(0.25, 12);
    // Query 0 with offset Lk − Lq = 3 sees keys 0..3, not key 4.
    expect(p[4]).toBe(0);
    expect(p[0]! + p[1]! + p[2]! + p[3]!).toBeCloseTo(1, 12);
  });
});
