// Float64 reference of the pointwise family: plain loops, the ground truth for tests and for the
// validation step of `coca bench pointwise`. Shapes are flat: every array holds n elements, except
// a broadcast row of `cols`.

/** z (n) = α·x (n) + β·y (n), or y (cols) broadcast over rows of x when `cols` is given. */
export function axpbyRef(x: ArrayLike<number>, y: ArrayLike<number>, alpha = 1, beta = 1, cols?: number): Float64Array {
  const z = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) z[i] = alpha * x[i]! + beta * y[cols ? i % cols : i]!;
  return z;
}

/** z (n) = α·x (n)·y (n). */
export function mulRef(x: ArrayLike<number>, y: ArrayLike<number>, alpha = 1): Float64Array {
  const z = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) z[i] = alpha * x[i]! * y[i]!;
  return z;
}

/** z (n) = α·x (n). */
export function scaleRef(x: ArrayLike<number>, alpha: number): Float64Array {
  const z = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) z[i] = alpha * x[i]!;
  return z;
}

/**
 * erfc in float64: the Maclaurin series of erf below |z| = 1 (little cancellation there), Lentz's
 * continued fraction for erfc above (under 200 terms at 1, a few dozen by 3, and full relative
 * accuracy in the tail, where 1 − erf would lose every digit). Both agree with CPython's
 * math.erfc to ~1e-15 relative.
 */
export function erfcRef(z: number): number {
  const a = Math.abs(z);
  let r: number;
  if (a < 1) {
    // erf(a) = 2/√π · Σ (−1)ⁿ a^(2n+1) / (n!·(2n+1))
    let term = a;
    let sum = a;
    for (let n = 1; n < 200 && Math.abs(term) > 1e-17 * Math.abs(sum); n++) {
      term *= (-a * a) / n;
      sum += term / (2 * n + 1);
    }
    r = 1 - (2 / Math.sqrt(Math.PI)) * sum;
  } else {
    // erfc(a) = e^(−a²)/√π · 1/(a + (1/2)/(a + 1/(a + (3/2)/(a + 2/(a + …)))))
    const tiny = 1e-300;
    let f = a;
    let C = a;
    let D = 0;
    for (let k = 1; k < 500; k++) {
      const ak = k / 2;
      D = a + ak * D;
      D = Math.abs(D) < tiny ? tiny : D;
      C = a + ak / C;
      C = Math.abs(C) < tiny ? tiny : C;
      D = 1 / D;
      const delta = C * D;
      f *= delta;
      if (Math.abs(delta - 1) < 1e-16) break;
    }
    r = Math.exp(-a * a) / (Math.sqrt(Math.PI) * f);
  }
  return z >= 0 ? r : 2 - r;
}

export const erfRef = (z: number): number => 1 - erfcRef(z);

/** Standard normal CDF Φ(x) = erfc(−x/√2)/2. */
export const normalCdfRef = (x: number): number => 0.5 * erfcRef(-x / Math.SQRT2);

/** z (n) = GELU(x) = x·Φ(x). */
export function geluRef(x: ArrayLike<number>): Float64Array {
  const z = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) z[i] = x[i]! * normalCdfRef(x[i]!);
  return z;
}

/** dx (n) = dy (n)·GELU'(x (n)), GELU'(x) = Φ(x) + x·φ(x). */
export function geluBackwardRef(x: ArrayLike<number>, dy: ArrayLike<number>): Float64Array {
  const dx = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    dx[i] = dy[i]! * (normalCdfRef(v) + (v * Math.exp(-0.5 * v * v)) / Math.sqrt(2 * Math.PI));
  }
  return dx;
}

/**
 * Tolerances against this reference (α, β rounded to float32 as the kernel gets them): the
 * linear ops round up to three times at operand magnitudes ≤ 4 (half an ulp of 4 is 2.4e-7) and
 * α·x + β·y may cancel, hence the absolute term; GELU carries erfc's 1.2e-7 relative error plus a few roundings of exp's
 * argument, and GELU' cancels near its zero at x ≈ −0.75, hence the absolute term.
 */
export const POINTWISE_TOL = {
  linear: { atol: 6e-7, rtol: 3e-7 },
  gelu: { atol: 1e-7, rtol: 1e-6 },
  geluBackward: { atol: 3e-7, rtol: 1e-6 },
};
