// Max pool's gradient routes each dy to its window's largest input. Where a window's two largest
// inputs lie within a finite-difference step (or within float32's error of the float64 reference),
// the step moves the maximum, or the GPU picks the other one, and a correct backward fails by
// O(dy). Random uniform inputs do that now and then (measured over 20,000 seeds: 6 draws of
// cnn-ops' max-pool test had a window gap below 1e-6, 16 of its CNN chain; the reference test, at
// step 1e-5, failed 15 times), so the tests redraw until every window's gap is wide.
import type { PoolRefDims } from '../../kernels/pool.ref.ts';
import { poolRefOut } from '../../kernels/pool.ref.ts';
import type { Rng } from '../../src/util/prng.ts';

/** The smallest difference between the two largest inputs of any window (∞ for 1-element windows). */
export function minWindowGap(x: ArrayLike<number>, d: PoolRefDims): number {
  const [OH, OW] = poolRefOut(d);
  let gap = Infinity;
  for (let pl = 0; pl < d.planes; pl++)
    for (let oh = 0; oh < OH; oh++)
      for (let ow = 0; ow < OW; ow++) {
        let [a, b] = [-Infinity, -Infinity];
        for (let kh = 0; kh < d.KH; kh++)
          for (let kw = 0; kw < d.KW; kw++) {
            const ih = oh * d.sh - d.ph + kh;
            const iw = ow * d.sw - d.pw + kw;
            if (ih < 0 || ih >= d.H || iw < 0 || iw >= d.W) continue;
            const v = x[(pl * d.H + ih) * d.W + iw]!;
            if (v > a) [a, b] = [v, a];
            else if (v > b) b = v;
          }
        if (b > -Infinity) gap = Math.min(gap, a - b);
      }
  return gap;
}

/**
 * Draws inputs with `draw` until `gapOf` (the smallest window gap of the pooled values they give)
 * is at least `minGap`. Deterministic for a given generator; a few percent of draws are rejected.
 */
export function drawWithoutNearTies<T>(rng: Rng, draw: (rng: Rng) => T, gapOf: (inputs: T) => number, minGap: number): T {
  for (let attempt = 0; attempt < 100; attempt++) {
    const inputs = draw(rng);
    if (gapOf(inputs) >= minGap) return inputs;
  }
  throw new Error(`no draw in 100 had every pooling window's gap ≥ ${minGap}: the inputs are too coarse for this check`);
}
