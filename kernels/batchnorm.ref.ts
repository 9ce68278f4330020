// Float64 reference of the batch norm family: plain loops over x [B, C, S] (S = the product of
// the axes after C), the ground truth for tests and for `coca bench batchnorm`.

export interface BatchnormRefOptions {
  training: boolean;
  runningMean?: ArrayLike<number>;
  runningVar?: ArrayLike<number>;
  momentum?: number;
  eps?: number;
}

/**
 * y = (x − mean)·rstd·γ + β per channel. Training: the batch's mean and biased variance, and the
 * running statistics moved towards them (the variance unbiased), as PyTorch. Inference: the
 * running statistics. mean and rstd are the ones used.
 */
export function batchnormRef(
  x: ArrayLike<number>,
  gamma: ArrayLike<number>,
  beta: ArrayLike<number>,
  B: number,
  C: number,
  S: number,
  o: BatchnormRefOptions,
): { y: Float64Array; mean: Float64Array; rstd: Float64Array; runningMean: Float64Array; runningVar: Float64Array } {
  const eps = o.eps ?? 1e-5;
  const k = o.momentum ?? 0.1;
  const n = B * S;
  const y = new Float64Array(B * C * S);
  const mean = new Float64Array(C);
  const rstd = new Float64Array(C);
  const runningMean = Float64Array.from(o.runningMean ?? new Float64Array(C));
  const runningVar = Float64Array.from(o.runningVar ?? new Float64Array(C).fill(1));
  const idx = (b: number, c: number, s: number) => (b * C + c) * S + s;
  for (let c = 0; c < C; c++) {
    if (o.training) {
      let sum = 0;
      for (let b = 0; b < B; b++) for (let s = 0; s < S; s++) sum += x[idx(b, c, s)]!;
      const m = sum / n;
      let q = 0;
      for (let b = 0; b < B; b++) for (let s = 0; s < S; s++) q += (x[idx(b, c, s)]! - m) ** 2;
      mean[c] = m;
      rstd[c] = 1 / Math.sqrt(q / n + eps);
      runningMean[c] = (1 - k) * runningMean[c]! + k * m;
      runningVar[c] = (1 - k) * runningVar[c]! + (k * q) / (n - 1);
    } else {
      mean[c] = runningMean[c]!;
      rstd[c] = 1 / Math.sqrt(runningVar[c]! + eps);
    }
    for (let b = 0; b < B; b++) for (let s = 0; s < S; s++) y[idx(b, c, s)] = (x[idx(b, c, s)]! - mean[c]!) * rstd[c]! * gamma[c]! + beta[c]!;
  }
  return { y, mean, rstd, runningMean, runningVar };
}

/**
 * dγ = Σ dy·x̂, dβ = Σ dy per channel; dx = γ·rstd·(dy − mean(dy) − x̂·mean(dy·x̂)) in training
 * (the statistics depend on x), γ·rstd·dy in inference.
 */
export function batchnormBackwardRef(
  x: ArrayLike<number>,
  gamma: ArrayLike<number>,
  mean: ArrayLike<number>,
  rstd: ArrayLike<number>,
  dy: ArrayLike<number>,
  B: number,
  C: number,
  S: number,
  training: boolean,
): { dx: Float64Array; dgamma: Float64Array; dbeta: Float64Array } {
  const n = B * S;
  const dx = new Float64Array(B * C * S);
  const dgamma = new Float64Array(C);
  const dbeta = new Float64Array(C);
  const idx = (b: number, c: number, s: number) => (b * C + c) * S + s;
  for (let c = 0; c < C; c++) {
    for (let b = 0; b < B; b++) {
      for (let s = 0; s < S; s++) {
        const i = idx(b, c, s);
        dgamma[c] += dy[i]! * (x[i]! - mean[c]!) * rstd[c]!;
        dbeta[c] += dy[i]!;
      }
    }
    for (let b = 0; b < B; b++) {
      for (let s = 0; s < S; s++) {
        const i = idx(b, c, s);
        const xh = (x[i]! - mean[c]!) * rstd[c]!;
        const g = training ? dy[i]! - dbeta[c]! / n - (xh * dgamma[c]!) / n : dy[i]!;
        dx[i] = gamma[c]! * rstd[c]! * g;
      }
    }
  }
  return { dx, dgamma, dbeta };
}

/**
 * Tolerances for |x| ≤ ~2, γ near 1: statistics sum n = B·S terms (rounding like √n·2⁻²⁴); dx
 * scales with rstd; dγ, dβ sum n terms of O(1). A wrong channel index or a dropped term moves
 * values by O(1/n) at least, far above these for the sizes tested.
 */
export function batchnormTolerance(n: number) {
  const g = Math.sqrt(n);
  return {
    y: { atol: 2e-6 + 2e-7 * g, rtol: 1e-5 },
    stats: { atol: 1e-6 + 1e-7 * g, rtol: 1e-5 },
    dx: { atol: 4e-6 + 4e-7 * g, rtol: 1e-5 },
    dparams: { atol: 2e-6 * g + 1e-6, rtol: 1e-5 },
  };
}
