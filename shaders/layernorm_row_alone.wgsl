// layernorm_row_alone.wgsl — a row's layernorm statistics taken by one invocation, with the bits
// of layernorm_row.wgsl's row_stats (included before this file, for WG, VPT and its helpers): each
// of the WG invocations' partial sums in turn, in its order, folded from the first as row_sum
// folds them: the same additions in the same order, without the barriers and the WG-wide folds
// every invocation of a workgroup would repeat per row. The including file defines
// ln_row_at(i: u32) -> f32, element i of the buffer holding the row (the subgroup matmul's A, a
// decoding step's block input).

// The vec4 of the row (from `row`, `cols` long) at column c, 0 past the row: what an invocation of
// the layernorm kernel holds there.
fn ln_row_vec4(row: u32, c: u32, cols: u32) -> vec4f {
  var v = vec4f(0.0);
  for (var j = 0u; j < 4u; j++) { if (c + j < cols) { v[j] = ln_row_at(row + c + j); } }
  return v;
}

// (mean, 1/σ) of the row.
fn ln_row_stats_alone(row: u32, cols: u32, eps: f32) -> vec2f {
  var total = 0.0;
  for (var t = 0u; t < WG; t++) {
    var s = 0.0;
    for (var k = 0u; k < VPT; k++) { s += hsum(ln_row_vec4(row, row_col(t, k), cols)); }
    total = select(total + s, s, t == 0u);
  }
  let mean = total / f32(cols);
  var sq = 0.0;
  for (var t = 0u; t < WG; t++) {
    var q = 0.0;
    for (var k = 0u; k < VPT; k++) {
      let c = row_col(t, k);
      let d = select(vec4f(0.0), ln_row_vec4(row, c, cols) - mean, row_live(c, cols));
      q += dot(d, d);
    }
    sq = select(sq + q, q, t == 0u);
  }
  return vec2f(mean, row_rstd(sq, cols, eps));
}
