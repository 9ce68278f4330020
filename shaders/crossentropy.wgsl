// crossentropy.wgsl — log-softmax + negative log-likelihood over the vocabulary, fused, with
// ignore_index, the mean over the rows that count, and the gradient of the logits.
//
// Entry points (kernels/crossentropy.ts launches them):
//   ce_fwd   one workgroup per row: one sweep of online max / sum-of-exp per invocation (so the
//            logits are read once), a tree combine of the (max, sum) pairs, then
//            rowLoss = (max − x[target]) + log(sum) and stats = (max, log(sum)). With WRITE_GRAD
//            a second sweep writes grad = (softmax − onehot)·g in the same dispatch.
//   ce_bwd   the same second sweep on its own, from the saved stats.
//   ce_mean  one workgroup: loss = Σ rowLoss · invCount, summed in a fixed order (each invocation
//            a strided run of rows, then a tree), so the result is the same bits on every run.
// g = gradScale · invCount · (dloss[0] when HAS_DLOSS), and 0 on rows whose target is `ignore`.
// Max and log(sum) are kept apart rather than as one lse: at logits of ±1e4 an f32 lse loses
// 1e-3 to rounding, which exp(x − lse) would turn into a 1e-3 relative error of the gradient.
//
// Bindings:
//   ce_fwd   0 Params · 1 logits (read) · 2 targets u32 (read) · 3 dloss (read) · 4 rowLoss (rw)
//            · 5 stats [N, 2] (rw) · 6 grad (rw)
//   ce_bwd   0 Params · 1 logits (read) · 2 targets u32 (read) · 3 dloss (read) · 4 stats (read)
//            · 5 grad (rw)
//   ce_mean  0 Params · 1 rowLoss (read) · 2 loss (rw)
// Rows are numbered across a 2-D grid of workgroups (x + y·nwg.x): one dimension holds ≤ 65535.
//
// SMOOTH (a define, set by kernels/crossentropy.ts when ε = p.smoothing > 0): torch's label
// smoothing, the target (1 − ε)·onehot + ε/V: rowLoss = (1 − ε)·(lse − x[target]) + ε·(lse − mean x),
// grad = (softmax − (1 − ε)·onehot − ε/V)·g. ce_fwd then also sums each row's logits (for mean x).
// Without it the lines are exactly the unsmoothed kernel's.

struct Params {
  N: u32, V: u32, ignore: u32, flags: u32,
  offLogits: u32, offGrad: u32, gradScale: f32, invCount: f32,
  offLoss: u32, smoothing: f32, pad1: u32, pad2: u32,
}

const WG: u32 = 64u;
const WRITE_GRAD: u32 = 1u;
const HAS_DLOSS: u32 = 2u;
const SMOOTH: bool = false;
// Below any logit: exp(NEG − x) is 0 and, unlike −inf, NEG − NEG is 0, not NaN.
const NEG: f32 = -3.0e38;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> targets: array<u32>;
@group(0) @binding(3) var<storage, read> dloss: array<f32>;

var<workgroup> wm: array<f32, WG>;
var<workgroup> ws: array<f32, WG>;
//#if SMOOTH
var<workgroup> wx: array<f32, WG>;

// d rowLoss / d x_j ÷ g: softmax − the smoothed target.
fn smoothedGrad(prob: f32, isTarget: bool) -> f32 {
  var d = prob - p.smoothing / f32(p.V);
  if (isTarget) { d -= 1.0 - p.smoothing; }
  return d;
}
//#end

fn rowScale(t: u32) -> f32 {
  if (t == p.ignore) { return 0.0; }
  var g = p.gradScale * p.invCount;
  if ((p.flags & HAS_DLOSS) != 0u) { g *= dloss[0]; }
  return g;
}

// ---- forward ----------------------------------------------------------------------------------
@group(0) @binding(4) var<storage, read_write> rowLoss: array<f32>;
@group(0) @binding(5) var<storage, read_write> stats: array<f32>;
@group(0) @binding(6) var<storage, read_write> grad: array<f32>;

@compute @workgroup_size(WG, 1, 1)
fn ce_fwd(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wg.y * nwg.x + wg.x;
  if (row >= p.N) { return; } // the whole workgroup leaves together: barriers stay uniform
  let base = p.offLogits + row * p.V;
  var m = NEG;
  var s = 0.0;
  //#if SMOOTH
  var sx = 0.0;
  //#end
  // Four logits at a time: one rescale of the running sum per four exps instead of a second exp
  // per logit (a branch on a new max is executed by every lane once any lane takes it).
  for (var j0 = 4u * lid; j0 < p.V; j0 += 4u * WG) {
    let last = p.V - 1u;
    let x = vec4f(logits[base + j0], logits[base + min(j0 + 1u, last)], logits[base + min(j0 + 2u, last)], logits[base + min(j0 + 3u, last)]);
    let xm = select(vec4f(NEG), x, j0 + vec4u(0u, 1u, 2u, 3u) <= vec4u(last));
    let mm = max(m, max(max(xm.x, xm.y), max(xm.z, xm.w)));
    let e = exp(xm - mm);
    s = s * exp(m - mm) + ((e.x + e.y) + (e.z + e.w));
    m = mm;
    //#if SMOOTH
    let xs = select(vec4f(0.0), x, j0 + vec4u(0u, 1u, 2u, 3u) <= vec4u(last));
    sx += (xs.x + xs.y) + (xs.z + xs.w);
    //#end
  }
  wm[lid] = m;
  ws[lid] = s;
  //#if SMOOTH
  wx[lid] = sx;
  //#end
  workgroupBarrier();
  for (var h = WG / 2u; h > 0u; h >>= 1u) {
    if (lid < h) {
      let m1 = wm[lid];
      let m2 = wm[lid + h];
      let mm = max(m1, m2);
      ws[lid] = ws[lid] * exp(m1 - mm) + ws[lid + h] * exp(m2 - mm);
      wm[lid] = mm;
      //#if SMOOTH
      wx[lid] += wx[lid + h];
      //#end
    }
    workgroupBarrier();
  }
  let mx = wm[0];
  let logS = log(ws[0]);
  let t = targets[row];
  if (lid == 0u) {
    var l = 0.0;
    //#if SMOOTH
    if (t != p.ignore) { l = (1.0 - p.smoothing) * ((mx - logits[base + t]) + logS) + p.smoothing * ((mx - wx[0] / f32(p.V)) + logS); }
    //#else
    if (t != p.ignore) { l = (mx - logits[base + t]) + logS; }
    //#end
    rowLoss[p.offLoss + row] = l;
    stats[2u * row] = mx;
    stats[2u * row + 1u] = logS;
  }
  if ((p.flags & WRITE_GRAD) == 0u) { return; }
  let g = rowScale(t);
  let out = p.offGrad + row * p.V;
  for (var j = lid; j < p.V; j += WG) {
    //#if SMOOTH
    let d = smoothedGrad(exp((logits[base + j] - mx) - logS), j == t);
    //#else
    var d = exp((logits[base + j] - mx) - logS);
    if (j == t) { d -= 1.0; }
    //#end
    grad[out + j] = d * g;
  }
}

// ---- backward from saved stats -------------------------------------------------------------------
@group(0) @binding(4) var<storage, read> savedStats: array<f32>;
@group(0) @binding(5) var<storage, read_write> dlogits: array<f32>;

@compute @workgroup_size(WG, 1, 1)
fn ce_bwd(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wg.y * nwg.x + wg.x;
  if (row >= p.N) { return; }
  let base = p.offLogits + row * p.V;
  let mx = savedStats[2u * row];
  let logS = savedStats[2u * row + 1u];
  let t = targets[row];
  let g = rowScale(t);
  let out = p.offGrad + row * p.V;
  for (var j = lid; j < p.V; j += WG) {
    //#if SMOOTH
    let d = smoothedGrad(exp((logits[base + j] - mx) - logS), j == t);
    //#else
    var d = exp((logits[base + j] - mx) - logS);
    if (j == t) { d -= 1.0; }
    //#end
    dlogits[out + j] = d * g;
  }
}

// ---- mean over rows ---------------------------------------------------------------------------------
@group(0) @binding(1) var<storage, read> rowLossIn: array<f32>;
@group(0) @binding(2) var<storage, read_write> loss: array<f32>;

@compute @workgroup_size(WG, 1, 1)
fn ce_mean(@builtin(local_invocation_index) lid: u32) {
  var s = 0.0;
  for (var r = lid; r < p.N; r += WG) { s += rowLossIn[p.offLoss + r]; }
  ws[lid] = s;
  workgroupBarrier();
  for (var h = WG / 2u; h > 0u; h >>= 1u) {
    if (lid < h) { ws[lid] += ws[lid + h]; }
    workgroupBarrier();
  }
  if (lid == 0u) { loss[p.offGrad] = ws[0] * p.invCount; }
}
