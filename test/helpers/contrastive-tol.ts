// The contrastive family's tolerances, shared by its kernel tests (one-positive and grouped
// targets: the grouped target changes what G holds, not how it is computed).
import { expectClose } from './close.ts';

// Float32 dot products over E ≤ 300 and sums of ≤ 300 exps: ~1e-6 relative. A dropped term of the
// symmetric loss, a wrong row/column or a missing normalisation backward is off by O(1/B).
export const LOSS_TOL = { atol: 2e-5, rtol: 2e-5 };
const GRAD_RTOL = 2e-4;

/**
 * A gradient row is held to ~8 float32 ulps of what its softmax rows contribute: s·(P − Y) is
 * computed from P in [0, 1] with an absolute error of a few ulps, scaled by s and by 1/‖x_i‖ in the
 * normalisation's backward. Where P ≈ Y (a saturated row, common at s = 100) that error is all the
 * row holds, so a fixed atol fails by chance (measured over 300 seeds per case: the worst error is
 * 0.32 of this bound; at s = 100 a fixed 2e-6 was exceeded 5×). Every bug the test is for (a dropped
 * term, a wrong row or column, a missing normalisation backward) is O(1/B) of the gradient.
 */
export function expectGradRows(got: Float32Array, want: Float64Array, x: Float32Array, B: number, E: number, scale: number, weight: number, what: string): void {
  for (let i = 0; i < B; i++) {
    let sq = 0;
    for (let e = 0; e < E; e++) sq += x[i * E + e]! ** 2;
    const atol = 8 * 2 ** -23 * scale * weight / Math.max(Math.sqrt(sq), 1e-12);
    expectClose(got.subarray(i * E, (i + 1) * E), want.subarray(i * E, (i + 1) * E), { atol, rtol: GRAD_RTOL }, `${what} row ${i}`);
  }
}

// d log-scale = Σ g·logit, with logits up to s apart each carrying a few float32 ulps of s: its
// error grows like s² (measured over 300 seeds per case: at s = 100 the worst was 1.6e-4, 0.13 of
// w·s²·2⁻²³, and 4× the fixed 1e-5 that failed CI once). Below s ≈ 15 the fixed 1e-5 still governs.
export function logScaleTol(scale: number, weight: number): { atol: number; rtol: number } {
  return { atol: 1e-5 + weight * scale * scale * 2 ** -23, rtol: 1e-4 };
}
