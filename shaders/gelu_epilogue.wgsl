// gelu_epilogue.wgsl — the GELU a matmul's epilogue applies (GELU_OUT) or differentiates
// (GELU_GRAD), shared by matmul_common.wgsl and matmul_f16.wgsl through
// `//#include gelu_epilogue`. The including file defines GELU_OUT, GELU_GRAD and Params with
// offC and offAux; aux (binding 5) is laid out as C from offAux. Contracts: matmul_common.wgsl.

//#if GELU_OUT
@group(0) @binding(5) var<storage, read_write> aux: array<f32>;
//#end
//#if GELU_GRAD
@group(0) @binding(5) var<storage, read> aux: array<f32>;
//#end

// Φ(x) = erfc(−x/√2)/2 with shaders/pointwise.wgsl's erfc (Numerical Recipes' erfcc, relative
// error < 1.2e-7 over the whole line): the same GELU as the pointwise kernel it replaces.
fn phi(x: f32) -> f32 {
  let z = x * -0.70710678118654752;
  let a = abs(z);
  let t = 1.0 / (1.0 + 0.5 * a);
  var q = fma(t, 0.17087277, -0.82215223);
  q = fma(t, q, 1.48851587);
  q = fma(t, q, -1.13520398);
  q = fma(t, q, 0.27886807);
  q = fma(t, q, -0.18628806);
  q = fma(t, q, 0.09678418);
  q = fma(t, q, 0.37409196);
  q = fma(t, q, 1.00002368);
  q = fma(t, q, -1.26551223);
  let r = t * exp(q - a * a);
  return 0.5 * select(2.0 - r, r, z >= 0.0);
}

// v (alpha·acc + bias) of C's element i as the epilogue goes on with it: gelu(v), keeping v in
// aux (GELU_OUT); v·gelu'(aux) (GELU_GRAD); else v itself.
fn gelu_epilogue(v: f32, i: u32) -> f32 {
  var out = v;
  //#if GELU_OUT
  aux[p.offAux + i - p.offC] = v;
  out = v * phi(v);
  //#end
  //#if GELU_GRAD
  // GELU'(h) = Φ(h) + h·φ(h), φ the standard normal density.
  let h = aux[p.offAux + i - p.offC];
  out = v * (phi(h) + h * 0.39894228040143268 * exp(-0.5 * h * h));
  //#end
  return out;
}
