// Central finite differences in float64: checks that a backward reference really is the
// gradient of its forward reference. Used at tiny sizes only (2 forward calls per input).

/**
 * Numerical gradient of L(x) = Σ f(x)·dout with respect to each element of x.
 * `f` must not keep references to x between calls.
 */
export function numericGrad(f: (x: Float64Array) => Float64Array, x: Float64Array, dout: Float64Array, h = 1e-5): Float64Array {
  const g = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const keep = x[i]!;
    x[i] = keep + h;
    const up = dot(f(x), dout);
    x[i] = keep - h;
    const down = dot(f(x), dout);
    x[i] = keep;
    g[i] = (up - down) / (2 * h);
  }
  return g;
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}
