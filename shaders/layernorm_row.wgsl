// layernorm_row.wgsl — a row's layernorm statistics as layernorm.wgsl's forward computes them,
// shared through `//#include layernorm_row` with the matmul that normalises its A rows in its
// prologue (matmul.wgsl's matmul_skinny with LN). Both take each row's mean and 1/σ with this
// code, this register layout (invocation t < WG holds vec4s t, t + WG, … of the row, VPT of them)
// and this order of sums, so the fused product reads the very bits the layernorm kernel would
// have written: test/infer/kvcache.test.ts holds decoding with the cache (fused) to recomputation
// (layernorm on its own) bit for bit. A workgroup may be wider than WG: the invocations past it
// hold zeros, write no partials, and still meet every barrier.

const WG: u32 = 16u;
const VPT: u32 = 4u;

var<workgroup> partials: array<vec2f, 2 * WG>;

// Row-wide sums of `v` over the WG invocations; `bank` alternates 0, 1 between calls. Everyone
// folds the WG partials in the same order: deterministic.
fn row_sum(tid: u32, v: vec2f, bank: u32) -> vec2f {
  if (tid < WG) { partials[bank * WG + tid] = v; }
  workgroupBarrier();
  var acc = partials[bank * WG];
  for (var i = 1u; i < WG; i++) { acc += partials[bank * WG + i]; }
  return acc;
}

// 1/σ from a row's sum of squared deviations: every layernorm statistics code (this file's
// row_stats, layernorm_sg.wgsl, the subgroup matmul's prologue) takes it here.
fn row_rstd(q: f32, cols: u32, eps: f32) -> f32 { return inverseSqrt(q / f32(cols) + eps); }

fn row_col(tid: u32, k: u32) -> u32 { return 4u * (tid + k * WG); }
fn row_live(c: u32, cols: u32) -> vec4<bool> { return vec4u(c, c + 1u, c + 2u, c + 3u) < vec4u(cols); }
fn hsum(v: vec4f) -> f32 { return (v.x + v.y) + (v.z + v.w); }

// Two-pass statistics of the row in `v` (0 past the row): centres `v` in place (x − mean, 0 past
// the row) and returns (mean, rstd), rstd = 1/√(biased variance + eps). Its three pieces below
// are also layernorm_sg.wgsl's, which folds the invocations' shares without row_sum.
fn row_stats(tid: u32, v: ptr<function, array<vec4f, VPT>>, cols: u32, eps: f32) -> vec2f {
  let mean = row_sum(tid, vec2f(row_share_sum(*v), 0.0), 0u).x / f32(cols);
  *v = row_centre(tid, *v, mean, cols);
  let rstd = row_rstd(row_sum(tid, vec2f(row_share_sq(*v), 0.0), 1u).x, cols, eps);
  return vec2f(mean, rstd);
}

// Invocation t's share of the row's sum, and of its sum of squares once centred.
fn row_share_sum(v: array<vec4f, VPT>) -> f32 {
  var s = 0.0;
  for (var k = 0u; k < VPT; k++) { s += hsum(v[k]); }
  return s;
}

fn row_share_sq(d: array<vec4f, VPT>) -> f32 {
  var q = 0.0;
  for (var k = 0u; k < VPT; k++) { q += dot(d[k], d[k]); }
  return q;
}

// x − mean of invocation t's vec4s, 0 past the row (its lanes there would hold −mean).
fn row_centre(t: u32, v: array<vec4f, VPT>, mean: f32, cols: u32) -> array<vec4f, VPT> {
  var d: array<vec4f, VPT>;
  for (var k = 0u; k < VPT; k++) { d[k] = select(vec4f(0.0), v[k] - mean, row_live(row_col(t, k), cols)); }
  return d;
}
