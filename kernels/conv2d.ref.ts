// Float64 reference of the conv2d family: the direct seven-loop convolution over NCHW, and its
// backward written as a scatter (each output pixel adds into the inputs it read) — the opposite
// direction of the kernel's gather, so the two share nothing but the definition.

export interface Conv2dRefDims {
  B: number;
  Cin: number;
  H: number;
  W: number;
  Cout: number;
  KH: number;
  KW: number;
  sh: number;
  sw: number;
  ph: number;
  pw: number;
}

export function conv2dRefOut(d: Conv2dRefDims): [number, number] {
  return [Math.floor((d.H + 2 * d.ph - d.KH) / d.sh) + 1, Math.floor((d.W + 2 * d.pw - d.KW) / d.sw) + 1];
}

/** y [B, Cout, OH, OW] = Σ_{ci, kh, kw} w[co, ci, kh, kw]·x[b, ci, oh·sh − ph + kh, ow·sw − pw + kw] (+ bias[co]); zero padding. */
export function conv2dRef(x: ArrayLike<number>, w: ArrayLike<number>, bias: ArrayLike<number> | null, d: Conv2dRefDims): Float64Array {
  const [OH, OW] = conv2dRefOut(d);
  const y = new Float64Array(d.B * d.Cout * OH * OW);
  for (let b = 0; b < d.B; b++) {
    for (let co = 0; co < d.Cout; co++) {
      for (let oh = 0; oh < OH; oh++) {
        for (let ow = 0; ow < OW; ow++) {
          let s = bias ? bias[co]! : 0;
          for (let ci = 0; ci < d.Cin; ci++) {
            for (let kh = 0; kh < d.KH; kh++) {
              const ih = oh * d.sh - d.ph + kh;
              if (ih < 0 || ih >= d.H) continue;
              for (let kw = 0; kw < d.KW; kw++) {
                const iw = ow * d.sw - d.pw + kw;
                if (iw < 0 || iw >= d.W) continue;
                s += w[((co * d.Cin + ci) * d.KH + kh) * d.KW + kw]! * x[((b * d.Cin + ci) * d.H + ih) * d.W + iw]!;
              }
            }
          }
          y[((b * d.Cout + co) * OH + oh) * OW + ow] = s;
        }
      }
    }
  }
  return y;
}

/** dx, dw, dbias of Σ y·dy, by scattering each dy element back along the products that made y. */
export function conv2dBackwardRef(
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  dy: ArrayLike<number>,
  d: Conv2dRefDims,
): { dx: Float64Array; dw: Float64Array; dbias: Float64Array } {
  const [OH, OW] = conv2dRefOut(d);
  const dx = new Float64Array(d.B * d.Cin * d.H * d.W);
  const dw = new Float64Array(d.Cout * d.Cin * d.KH * d.KW);
  const dbias = new Float64Array(d.Cout);
  for (let b = 0; b < d.B; b++) {
    for (let co = 0; co < d.Cout; co++) {
      for (let oh = 0; oh < OH; oh++) {
        for (let ow = 0; ow < OW; ow++) {
          const g = dy[((b * d.Cout + co) * OH + oh) * OW + ow]!;
          dbias[co] += g;
          for (let ci = 0; ci < d.Cin; ci++) {
            for (let kh = 0; kh < d.KH; kh++) {
              const ih = oh * d.sh - d.ph + kh;
              if (ih < 0 || ih >= d.H) continue;
              for (let kw = 0; kw < d.KW; kw++) {
                const iw = ow * d.sw - d.pw + kw;
                if (iw < 0 || iw >= d.W) continue;
                const xi = ((b * d.Cin + ci) * d.H + ih) * d.W + iw;
                const wi = ((co * d.Cin + ci) * d.KH + kh) * d.KW + kw;
                dx[xi] += g * w[wi]!;
                dw[wi] += g * x[xi]!;
              }
            }
          }
        }
      }
    }
  }
  return { dx, dw, dbias };
}

/**
 * Tolerance of a float32 implicit GEMM with inputs of magnitude ≤ 1 and `K` terms per output:
 * rounding grows like √K·2⁻²⁴ (matmul's bound); a wrong tap, a missed padding test or a
 * transposed index moves outputs by O(1).
 */
export function conv2dTolerance(K: number): { atol: number; rtol: number } {
  return { atol: 1e-5 * Math.sqrt(K), rtol: 1e-4 };
}
