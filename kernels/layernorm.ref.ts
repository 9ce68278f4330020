// Float64 reference of the layernorm family: plain loops, the ground truth for tests and for the
// validation step of `coca bench layernorm`.

/** y (rows, cols) = (x − mean)·rstd·γ (cols) + β (cols); mean, rstd (rows); biased variance. */
export function layernormRef(
  x: ArrayLike<number>,
  gamma: ArrayLike<number>,
  beta: ArrayLike<number>,
  rows: number,
  cols: number,
  eps = 1e-5,
): { y: Float64Array; mean: Float64Array; rstd: Float64Array } {
  const y = new Float64Array(rows * cols);
  const mean = new Float64Array(rows);
  const rstd = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let c = 0; c < cols; c++) s += x[r * cols + c]!;
    const m = s / cols;
    let q = 0;
    for (let c = 0; c < cols; c++) q += (x[r * cols + c]! - m) ** 2;
    const rs = 1 / Math.sqrt(q / cols + eps);
    mean[r] = m;
    rstd[r] = rs;
    for (let c = 0; c < cols; c++) y[r * cols + c] = (x[r * cols + c]! - m) * rs * gamma[c]! + beta[c]!;
  }
  return { y, mean, rstd };
}

/**
 * From x (rows, cols), γ (cols), the forward's mean and rstd (rows) and dy (rows, cols):
 * dx = rstd·(g − mean_c(g) − x̂·mean_c(g·x̂)) with g = dy·γ, x̂ = (x − mean)·rstd;
 * dγ (cols) = Σ_r dy·x̂; dβ (cols) = Σ_r dy.
 */
export function layernormBackwardRef(
  x: ArrayLike<number>,
  gamma: ArrayLike<number>,
  mean: ArrayLike<number>,
  rstd: ArrayLike<number>,
  dy: ArrayLike<number>,
  rows: number,
  cols: number,
): { dx: Float64Array; dgamma: Float64Array; dbeta: Float64Array } {
  const dx = new Float64Array(rows * cols);
  const dgamma = new Float64Array(cols);
  const dbeta = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    let a = 0;
    let b = 0;
    for (let c = 0; c < cols; c++) {
      const i = r * cols + c;
      const xh = (x[i]! - mean[r]!) * rstd[r]!;
      const g = dy[i]! * gamma[c]!;
      a += g;
      b += g * xh;
      dgamma[c] += dy[i]! * xh;
      dbeta[c] += dy[i]!;
    }
    a /= cols;
    b /= cols;
    for (let c = 0; c < cols; c++) {
      const i = r * cols + c;
      const xh = (x[i]! - mean[r]!) * rstd[r]!;
      dx[i] = rstd[r]! * (dy[i]! * gamma[c]! - a - xh * b);
    }
  }
  return { dx, dgamma, dbeta };
}

/**
 * Tolerances for inputs of magnitude ≤ ~2 and γ near 1: x̂ is O(1) with a few float32 roundings
 * (the sums grow like √cols·2⁻²⁴); dx scales with rstd; dγ, dβ add `rows` terms of O(1), each
 * rounding once, in two levels. A transposed index or a dropped term moves values by O(1/cols)
 * at least, far above these.
 */
export function layernormTolerance(rows: number, cols: number) {
  const g = Math.sqrt(cols);
  return {
    y: { atol: 2e-6 + 1e-7 * g, rtol: 1e-5 },
    stats: { atol: 1e-6, rtol: 1e-5 },
    dx: { atol: 4e-6 + 2e-7 * g, rtol: 1e-5 },
    dparams: { atol: 2e-6 * rows + 1e-6, rtol: 1e-5 },
  };
}
