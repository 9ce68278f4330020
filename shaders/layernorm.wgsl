// layernorm.wgsl — y = (x − mean)·rstd·γ + β over the last axis of a row-major [rows, cols]
// float32 matrix, rstd = 1/√(var + eps) (biased variance, eps 1e-5 as PyTorch), and its backward.
//
// Entry points, each built twice by the VEC4 define (//#if VEC4, src/gpu/shaders.ts): vec4 x/dy/y/dx
// when cols and those offsets are multiples of 4, scalar otherwise:
//   layernorm_fwd  0 Params · 1 x · 2 γ · 3 β (read) · 4 y · 5 mean · 6 rstd (read_write)
//   layernorm_bwd  0 Params · 1 x · 2 γ · 3 mean · 4 rstd · 5 dy (read) · 6 dx · 7 part (read_write)
// Layout as softmax.wgsl: a workgroup of WG invocations walks p.rpw rows, invocation t holding
// vec4s t, t + WG, … of the row (VPT of them) in registers; row sums take one barrier each
// (everyone folds the WG partials in the same order: deterministic), alternating two banks.
// γ (and β) are loaded once per workgroup and kept in registers across its rows: on a software
// adapter every load is a gather, so this halves the loads per element.
// Forward: two-pass statistics on the registers (mean, then Σ(x − mean)²), as exact as a
// float32 two-pass can be, with no extra reads of x.
// Backward: dx = rstd·(g − mean(g) − x̂·mean(g·x̂)), g = dy·γ, x̂ = (x − mean)·rstd. Each
// workgroup also sums dγ = Σ dy·x̂ and dβ = Σ dy over its own rows, in row order, and writes
// them as partials part[wg, c] and part[wg, cols + c] (one row [dγ | dβ] per workgroup);
// kernels/layernorm.ts folds them over workgroups with one call of reduce.wgsl's column kernel,
// again in a fixed order. No atomics anywhere.

struct Params {
  rows: u32, cols: u32, rpw: u32, nwg: u32,
  offX: u32, offG: u32, offB: u32, offY: u32,
  offMean: u32, offRstd: u32, offDy: u32, eps: f32,
  // ACCUMULATE_DX (backward): dx += the gradient instead of dx = it (a residual stream's
  // gradient already holds the skip path's share).
  // offPart (backward): where row 0 of part starts (a caller's buffer holding the partials of
  // many layernorms, folded later in one dispatch).
  flags: u32, offPart: u32, pad1: u32, pad2: u32,
}

const ACCUMULATE_DX: u32 = 1u;

const VEC4: bool = true;

// WG, VPT, the row sums and the forward's statistics (row_stats), shared with the matmul that
// folds a layernorm into its prologue.
//#include layernorm_row

// Bindings 1, 4, 5 and 6 are declared as f32 and as vec4f elements (the VEC4 entry points use
// one view, the scalar ones the other), and 3 to 6 differ between the passes: WGSL allows several
// variables on one binding as long as no entry point uses two of them, and a pipeline binds only
// what its entry point uses.
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> xs: array<f32>;
@group(0) @binding(1) var<storage, read> xv: array<vec4f>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
// Forward
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read_write> ys: array<f32>;
@group(0) @binding(4) var<storage, read_write> yv: array<vec4f>;
@group(0) @binding(5) var<storage, read_write> mean_out: array<f32>;
@group(0) @binding(6) var<storage, read_write> rstd_out: array<f32>;
// Backward
@group(0) @binding(3) var<storage, read> mean_in: array<f32>;
@group(0) @binding(4) var<storage, read> rstd_in: array<f32>;
@group(0) @binding(5) var<storage, read> dys: array<f32>;
@group(0) @binding(5) var<storage, read> dyv: array<vec4f>;
@group(0) @binding(6) var<storage, read_write> dxs: array<f32>;
@group(0) @binding(6) var<storage, read_write> dxv: array<vec4f>;
@group(0) @binding(7) var<storage, read_write> part: array<f32>;

fn col(tid: u32, k: u32) -> u32 { return row_col(tid, k); }
fn live(c: u32) -> vec4<bool> { return row_live(c, p.cols); }
fn wg_index(wg: vec3u, nwg: vec3u) -> u32 { return wg.y * nwg.x + wg.x; }

// γ or β as the invocation's vec4s, 0 past the row. Two functions, not one with a flag: an entry
// point may not touch β's binding, which the backward gives to mean.
fn load_gamma(tid: u32) -> array<vec4f, VPT> {
  var v: array<vec4f, VPT>;
  for (var k = 0u; k < VPT; k++) {
    for (var i = 0u; i < 4u; i++) {
      if (col(tid, k) + i < p.cols) { v[k][i] = gamma[p.offG + col(tid, k) + i]; }
    }
  }
  return v;
}

fn load_beta(tid: u32) -> array<vec4f, VPT> {
  var v: array<vec4f, VPT>;
  for (var k = 0u; k < VPT; k++) {
    for (var i = 0u; i < 4u; i++) {
      if (col(tid, k) + i < p.cols) { v[k][i] = beta[p.offB + col(tid, k) + i]; }
    }
  }
  return v;
}

// Row r's x, or dy, as invocation t's vec4s, 0 past the row; every entry point loads and stores
// rows through these four.
fn load_x(r: u32, t: u32) -> array<vec4f, VPT> {
  var v: array<vec4f, VPT>;
  for (var k = 0u; k < VPT; k++) {
    //#if VEC4
    if (col(t, k) < p.cols) { v[k] = xv[(p.offX + r * p.cols + col(t, k)) / 4u]; }
    //#else
    for (var i = 0u; i < 4u; i++) {
      if (col(t, k) + i < p.cols) { v[k][i] = xs[p.offX + r * p.cols + col(t, k) + i]; }
    }
    //#end
  }
  return v;
}

fn load_dy(r: u32, t: u32) -> array<vec4f, VPT> {
  var v: array<vec4f, VPT>;
  for (var k = 0u; k < VPT; k++) {
    //#if VEC4
    if (col(t, k) < p.cols) { v[k] = dyv[(p.offDy + r * p.cols + col(t, k)) / 4u]; }
    //#else
    for (var i = 0u; i < 4u; i++) {
      if (col(t, k) + i < p.cols) { v[k][i] = dys[p.offDy + r * p.cols + col(t, k) + i]; }
    }
    //#end
  }
  return v;
}

fn store_y(r: u32, t: u32, y: array<vec4f, VPT>) {
  for (var k = 0u; k < VPT; k++) {
    //#if VEC4
    if (col(t, k) < p.cols) { yv[(p.offY + r * p.cols + col(t, k)) / 4u] = y[k]; }
    //#else
    for (var i = 0u; i < 4u; i++) {
      if (col(t, k) + i < p.cols) { ys[p.offY + r * p.cols + col(t, k) + i] = y[k][i]; }
    }
    //#end
  }
}

// dx sits at offY, as y does in the forward.
fn store_dx(r: u32, t: u32, dx: array<vec4f, VPT>) {
  for (var k = 0u; k < VPT; k++) {
    //#if VEC4
    if (col(t, k) < p.cols) {
      let at = (p.offY + r * p.cols + col(t, k)) / 4u;
      var o = dx[k];
      if ((p.flags & ACCUMULATE_DX) != 0u) { o += dxv[at]; }
      dxv[at] = o;
    }
    //#else
    for (var i = 0u; i < 4u; i++) {
      if (col(t, k) + i < p.cols) {
        let at = p.offY + r * p.cols + col(t, k) + i;
        var o = dx[k][i];
        if ((p.flags & ACCUMULATE_DX) != 0u) { o += dxs[at]; }
        dxs[at] = o;
      }
    }
    //#end
  }
}

// γ·x̂ + β from the centred row `d` (row_stats' or row_centre's). The fused matmul prologue
// (matmul.wgsl, LN) normalises with this same expression.
fn ln_fwd_core(d: array<vec4f, VPT>, rstd: f32, g: array<vec4f, VPT>, b: array<vec4f, VPT>) -> array<vec4f, VPT> {
  var y: array<vec4f, VPT>;
  for (var k = 0u; k < VPT; k++) { y[k] = fma(d[k] * rstd, g[k], b[k]); }
  return y;
}

// The backward in pieces, so that layernorm_bwd_sg can fold the row sums its own way between
// them: x̂ of invocation t's vec4s (0 past the row); its shares of the row sums (Σ g, Σ g·x̂),
// g = dy·γ; and dx from their means m.
fn ln_xhat(t: u32, x: array<vec4f, VPT>, mean: f32, rstd: f32) -> array<vec4f, VPT> {
  var xh: array<vec4f, VPT>;
  for (var k = 0u; k < VPT; k++) { xh[k] = select(vec4f(0.0), (x[k] - mean) * rstd, live(col(t, k))); }
  return xh;
}

fn ln_bwd_shares(xh: array<vec4f, VPT>, d: array<vec4f, VPT>, g: array<vec4f, VPT>) -> vec2f {
  var s = vec2f(0.0);
  for (var k = 0u; k < VPT; k++) {
    let gy = d[k] * g[k];
    s += vec2f(hsum(gy), dot(gy, xh[k]));
  }
  return s;
}

fn ln_bwd_dx(rstd: f32, m: vec2f, xh: array<vec4f, VPT>, d: array<vec4f, VPT>, g: array<vec4f, VPT>) -> array<vec4f, VPT> {
  var dx: array<vec4f, VPT>;
  for (var k = 0u; k < VPT; k++) { dx[k] = rstd * (d[k] * g[k] - m.x - xh[k] * m.y); }
  return dx;
}

// dγ = Σ dy·x̂ and dβ = Σ dy over a workgroup's rows so far, at invocation t's columns.
struct Grads { g: array<vec4f, VPT>, b: array<vec4f, VPT> }

fn ln_bwd_add(a: Grads, xh: array<vec4f, VPT>, d: array<vec4f, VPT>) -> Grads {
  var o = a;
  for (var k = 0u; k < VPT; k++) {
    o.g[k] = fma(d[k], xh[k], o.g[k]);
    o.b[k] += d[k];
  }
  return o;
}

// Writes invocation t's dγ, dβ partials into row w of part [nwg, 2·cols].
fn store_partials(t: u32, w: u32, a: Grads) {
  for (var k = 0u; k < VPT; k++) {
    for (var i = 0u; i < 4u; i++) {
      let c = col(t, k) + i;
      if (c < p.cols) {
        part[p.offPart + 2u * w * p.cols + c] = a.g[k][i];
        part[p.offPart + (2u * w + 1u) * p.cols + c] = a.b[k][i];
      }
    }
  }
}

// Rows are walked with a bound that depends on the workgroup alone, so the barriers inside
// stay in uniform control flow. Lanes past the row hold 0 and are never stored.
@compute @workgroup_size(WG, 1, 1)
fn layernorm_fwd(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) tid: u32) {
  let g = load_gamma(tid);
  let b = load_beta(tid);
  let r0 = wg_index(wg, nwg) * p.rpw;
  for (var r = r0; r < min(p.rows, r0 + p.rpw); r++) {
    var v = load_x(r, tid);
    let st = row_stats(tid, &v, p.cols, p.eps);
    store_y(r, tid, ln_fwd_core(v, st.y, g, b));
    if (tid == 0u) { mean_out[p.offMean + r] = st.x; rstd_out[p.offRstd + r] = st.y; }
  }
}

@compute @workgroup_size(WG, 1, 1)
fn layernorm_bwd(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) tid: u32) {
  let g = load_gamma(tid);
  var a: Grads;
  let w = wg_index(wg, nwg);
  for (var r = w * p.rpw; r < min(p.rows, (w + 1u) * p.rpw); r++) {
    let rstd = rstd_in[p.offRstd + r];
    let xh = ln_xhat(tid, load_x(r, tid), mean_in[p.offMean + r], rstd);
    let d = load_dy(r, tid);
    a = ln_bwd_add(a, xh, d);
    // One reduction per row: the bank follows the row's parity.
    let m = row_sum(tid, ln_bwd_shares(xh, d, g), r & 1u) / f32(p.cols);
    store_dx(r, tid, ln_bwd_dx(rstd, m, xh, d, g));
  }
  if (w < p.nwg) { store_partials(tid, w, a); }
}
