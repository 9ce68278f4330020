// reduce.wgsl — deterministic reductions of a row-major [rows, cols] float32 matrix.
//
// Entry points (kernels/reduce.ts), each as *_v4 (reads vec4s: cols, offsets and n multiples of 4)
// and *_s (scalars, any shape):
//   reduce_rows  out[r] = ⊕_c f(x[r, c]): one workgroup per row. Each invocation folds a strided
//                slice of the row in a fixed order, then the workgroup folds the WG partials as
//                a binary tree in workgroup memory: same inputs, same bits, every run (no atomics).
//                Elements past p.n (counted from the matrix start) are skipped, so a flat range
//                can be cut into rows of a fixed length whose last one is short (reduce_all).
//   reduce_cols  out[k, c] = ⊕_{r in chunk k} f(x[r, c]): one invocation per column (or vec4 of
//                columns) walks its chunk of p.chunk rows top to bottom; chunks > 1 leave partials
//                that a second reduce_cols pass folds, again in a fixed order. Row r starts at
//                offX + r·stride, stride = p.n (0: cols), so a block of columns of a wider
//                matrix (a broadcast part of a concatenation's gradient) is read in place.
//   reduce_col_segments  sums only, for many column reductions in one dispatch (the dγ|dβ
//                partials of every layernorm of a backward pass, the column sums of broadcast
//                parameters' gradients): segment s = workgroup row gid.y, one invocation per
//                column, out[dst + c] (+)= Σ_r x[src + r·stride + c] (stride = cols for dense
//                rows, wider for a block of columns of a wider matrix) folded as reduce_cols
//                folds it (chunks of COL_CHUNK rows from 0, then the chunk sums in order from 0):
//                the bits one or two reduce_cols passes give.
// Ops (uniform p.op): 0 SUM f = x, ⊕ = +   1 SUMSQ f = x², ⊕ = +   2 MAX f = x, ⊕ = max.
//
// Bindings: 0 Params (uniform) · 1 x (read) · 2 out (read_write) · 3 segments (read, only
// reduce_col_segments: per segment vec4u(src, rows, cols, dst | SEG_ACCUMULATE), vec4u(stride, 0, 0, 0))

struct Params {
  rows: u32, cols: u32, n: u32, op: u32,
  offX: u32, offOut: u32, chunk: u32, pad0: u32,
}

const WG: u32 = 64u;
const OP_SUM: u32 = 0u;
const OP_SUMSQ: u32 = 1u;
const OP_MAX: u32 = 2u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> xs: array<f32>;
@group(0) @binding(1) var<storage, read> xv: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read_write> outv: array<vec4f>;

@group(0) @binding(3) var<storage, read> segs: array<vec4u>;

var<workgroup> partial: array<f32, WG>;

fn identity() -> f32 {
  // −∞ has no WGSL literal and a constant bitcast to it is a compile error; mixing in a uniform
  // (always 0) makes it a runtime value.
  if (p.op == OP_MAX) { return bitcast<f32>(0xff800000u | p.pad0); }
  return 0.0;
}

fn f4(v: vec4f) -> vec4f {
  if (p.op == OP_SUMSQ) { return v * v; }
  return v;
}

fn combine4(a: vec4f, b: vec4f) -> vec4f {
  if (p.op == OP_MAX) { return max(a, b); }
  return a + b;
}

fn combine(a: f32, b: f32) -> f32 {
  if (p.op == OP_MAX) { return max(a, b); }
  return a + b;
}

fn row_id(wg: vec3u, nwg: vec3u) -> u32 { return wg.y * nwg.x + wg.x; }

// Valid elements of row r: the whole row, or what is left of p.n for a short last row.
fn row_len(r: u32) -> u32 { return min(p.cols, p.n - min(p.n, r * p.cols)); }

// Folds the WG per-invocation partials of row r as a binary tree and stores the result.
fn finish_row(tid: u32, r: u32, acc: vec4f) {
  partial[tid] = combine(combine(acc.x, acc.y), combine(acc.z, acc.w));
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (tid < s) { partial[tid] = combine(partial[tid], partial[tid + s]); }
    workgroupBarrier();
  }
  if (tid == 0u) { out[p.offOut + r] = partial[0]; }
}

// Every invocation of a workgroup shares r, so the early exits are uniform and the barriers in
// finish_row stay in uniform control flow.
@compute @workgroup_size(WG, 1, 1)
fn reduce_rows_v4(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) tid: u32) {
  let r = row_id(wg, nwg);
  if (r >= p.rows) { return; }
  let base = (p.offX + r * p.cols) / 4u;
  var acc = vec4f(identity());
  for (var c = tid; c < row_len(r) / 4u; c += WG) { acc = combine4(acc, f4(xv[base + c])); }
  finish_row(tid, r, acc);
}

@compute @workgroup_size(WG, 1, 1)
fn reduce_rows_s(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) tid: u32) {
  let r = row_id(wg, nwg);
  if (r >= p.rows) { return; }
  let base = p.offX + r * p.cols;
  var acc = vec4f(identity());
  for (var c = tid; c < row_len(r); c += WG) { acc.x = combine(acc.x, f4(vec4f(xs[base + c])).x); }
  finish_row(tid, r, acc);
}

fn col_stride() -> u32 { return select(p.n, p.cols, p.n == 0u); }

// Column c (or vec4 of columns) of chunk k = gid.y: rows [k·chunk, (k+1)·chunk) top to bottom.
@compute @workgroup_size(WG, 1, 1)
fn reduce_cols_v4(@builtin(global_invocation_id) gid: vec3u) {
  let cols4 = p.cols / 4u;
  let c = gid.x;
  if (c >= cols4) { return; }
  let k = gid.y;
  let stride4 = col_stride() / 4u;
  var acc = vec4f(identity());
  for (var r = k * p.chunk; r < min(p.rows, (k + 1u) * p.chunk); r++) { acc = combine4(acc, f4(xv[p.offX / 4u + r * stride4 + c])); }
  outv[p.offOut / 4u + k * cols4 + c] = acc;
}

@compute @workgroup_size(WG, 1, 1)
fn reduce_cols_s(@builtin(global_invocation_id) gid: vec3u) {
  let c = gid.x;
  if (c >= p.cols) { return; }
  let k = gid.y;
  var acc = identity();
  let stride = col_stride();
  for (var r = k * p.chunk; r < min(p.rows, (k + 1u) * p.chunk); r++) { acc = combine(acc, f4(vec4f(xs[p.offX + r * stride + c])).x); }
  out[p.offOut + k * p.cols + c] = acc;
}

// kernels/reduce.ts's COL_CHUNK: the first level of reduce_cols' tree.
const COL_CHUNK: u32 = 256u;
const SEG_ACCUMULATE: u32 = 0x80000000u;

// Segment gid.y of p.rows; column gid.x of its cols.
@compute @workgroup_size(WG, 1, 1)
fn reduce_col_segments(@builtin(global_invocation_id) gid: vec3u) {
  if (gid.y >= p.rows) { return; }
  let s = segs[2u * gid.y];
  let stride = segs[2u * gid.y + 1u].x;
  let c = gid.x;
  if (c >= s.z) { return; }
  var total = 0.0;
  for (var k = 0u; k < s.y; k += COL_CHUNK) {
    var acc = 0.0;
    for (var r = k; r < min(s.y, k + COL_CHUNK); r++) { acc += xs[s.x + r * stride + c]; }
    total += acc;
  }
  let at = (s.w & ~SEG_ACCUMULATE) + c;
  if ((s.w & SEG_ACCUMULATE) != 0u) { total = out[at] + total; }
  out[at] = total;
}
