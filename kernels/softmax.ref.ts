// Float64 reference of the softmax family: plain loops, the ground truth for tests and for the
// validation step of `coca bench softmax`.

/** y (rows, cols) = softmax over each row of scale·x (rows, cols); a row of −∞ gives 0. */
export function softmaxRef(x: ArrayLike<number>, rows: number, cols: number, scale = 1): Float64Array {
  const y = new Float64Array(rows * cols);
  const v = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    let m = -Infinity;
    for (let c = 0; c < cols; c++) {
      v[c] = scale * x[r * cols + c]!;
      m = Math.max(m, v[c]!);
    }
    if (m === -Infinity) continue; // every column −∞: the row stays 0
    let s = 0;
    for (let c = 0; c < cols; c++) s += Math.exp(v[c]! - m);
    for (let c = 0; c < cols; c++) y[r * cols + c] = Math.exp(v[c]! - m) / s;
  }
  return y;
}

/** dx (rows, cols) = scale · y ⊙ (dy − Σ_c y·dy), for y, dy (rows, cols). */
export function softmaxBackwardRef(y: ArrayLike<number>, dy: ArrayLike<number>, rows: number, cols: number, scale = 1): Float64Array {
  const dx = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let c = 0; c < cols; c++) s += y[r * cols + c]! * dy[r * cols + c]!;
    for (let c = 0; c < cols; c++) dx[r * cols + c] = scale * y[r * cols + c]! * (dy[r * cols + c]! - s);
  }
  return dx;
}

/**
 * Tolerances against this reference: y ≤ 1 carries exp's few-ulp error and the rounding of a
 * sum of `cols` terms (√cols·2⁻²⁴ relative); the backward's dy − Σ y·dy cancels, so its error
 * is absolute in |dy| (inputs of magnitude ≤ 1 here). A transposed index moves values by ~1/cols
 * or more and fails.
 */
export function softmaxTolerance(cols: number): { fwd: { atol: number; rtol: number }; bwd: { atol: number; rtol: number } } {
  const grow = Math.sqrt(cols);
  return { fwd: { atol: 1e-7 + 2e-8 * grow, rtol: 2e-6 }, bwd: { atol: 3e-7 + 5e-8 * grow, rtol: 2e-6 } };
}
