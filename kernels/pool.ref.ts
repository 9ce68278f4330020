// Float64 reference of the pooling family: plain loops over NCHW planes. Max pool's backward
// scatters each dy into the input its argmax names (the kernel gathers instead).

export interface PoolRefDims {
  /** B·C */
  planes: number;
  H: number;
  W: number;
  KH: number;
  KW: number;
  sh: number;
  sw: number;
  ph: number;
  pw: number;
}

export function poolRefOut(d: PoolRefDims): [number, number] {
  return [Math.floor((d.H + 2 * d.ph - d.KH) / d.sh) + 1, Math.floor((d.W + 2 * d.pw - d.KW) / d.sw) + 1];
}

/** y = max over each window (padding never wins), idx = ih·W + iw of the first maximum in scan order. */
export function maxPoolRef(x: ArrayLike<number>, d: PoolRefDims): { y: Float64Array; idx: Uint32Array } {
  const [OH, OW] = poolRefOut(d);
  const y = new Float64Array(d.planes * OH * OW);
  const idx = new Uint32Array(y.length);
  for (let pl = 0; pl < d.planes; pl++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        let best = -Infinity;
        let at = -1;
        for (let kh = 0; kh < d.KH; kh++) {
          for (let kw = 0; kw < d.KW; kw++) {
            const ih = oh * d.sh - d.ph + kh;
            const iw = ow * d.sw - d.pw + kw;
            if (ih < 0 || ih >= d.H || iw < 0 || iw >= d.W) continue;
            const v = x[(pl * d.H + ih) * d.W + iw]!;
            if (at < 0 || v > best) [best, at] = [v, ih * d.W + iw];
          }
        }
        const o = (pl * OH + oh) * OW + ow;
        y[o] = best;
        idx[o] = at;
      }
    }
  }
  return { y, idx };
}

/** dx: each dy added to the input its idx names. */
export function maxPoolBackwardRef(idx: ArrayLike<number>, dy: ArrayLike<number>, d: PoolRefDims): Float64Array {
  const [OH, OW] = poolRefOut(d);
  const dx = new Float64Array(d.planes * d.H * d.W);
  for (let pl = 0; pl < d.planes; pl++) {
    for (let o = 0; o < OH * OW; o++) dx[pl * d.H * d.W + idx[pl * OH * OW + o]!] += dy[pl * OH * OW + o]!;
  }
  return dx;
}

/** y [planes] = mean of each plane of `hw` elements. */
export function globalAvgPoolRef(x: ArrayLike<number>, planes: number, hw: number): Float64Array {
  const y = new Float64Array(planes);
  for (let pl = 0; pl < planes; pl++) {
    let s = 0;
    for (let i = 0; i < hw; i++) s += x[pl * hw + i]!;
    y[pl] = s / hw;
  }
  return y;
}

export function globalAvgPoolBackwardRef(dy: ArrayLike<number>, planes: number, hw: number): Float64Array {
  const dx = new Float64Array(planes * hw);
  for (let i = 0; i < dx.length; i++) dx[i] = dy[Math.floor(i / hw)]! / hw;
  return dx;
}

/**
 * Max pool copies values: y is exact. dx sums at most ⌈KH/sh⌉·⌈KW/sw⌉ values of dy (≤ 1 each) in
 * another order than the reference; the average pool sums `hw` values once each.
 */
export const POOL_TOL = {
  exact: { atol: 0, rtol: 0 },
  maxDx: { atol: 1e-6, rtol: 1e-6 },
  avg: (hw: number) => ({ atol: 1e-6 * Math.sqrt(hw) + 1e-7, rtol: 1e-5 }),
};
