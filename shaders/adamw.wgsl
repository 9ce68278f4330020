// adamw.wgsl — the optimizer step and what comes before it: global gradient norm, clipping, and
// a finite check, all deterministic (fixed summation order, no atomics).
//
// Entry points (kernels/adamw.ts launches them):
//   adamw_step    torch.optim.AdamW on elements [offset, offset + n) of flat buffers, four
//                 consecutive elements per invocation (fewer invocations, one clip-scale load):
//                   p ← p·(1 − lr·wd)                           (decoupled decay, `decay` = 1 when off)
//                   m ← m + (g − m)·(1 − β1)                    (torch's lerp)
//                   v ← v·β2 + (1 − β2)·g²
//                   p ← p − stepSize · m / (√v · rsqrtBc2 + eps)
//                 stepSize = lr/(1 − β1^t) and rsqrtBc2 = 1/√(1 − β2^t) come from the host, which
//                 computes them in float64 from the step: an f32 pow is off by ~1e-5 relative in
//                 1 − β2^t at small t, more than the 1e-6 the update must match torch to.
//                 With USE_CLIP, g is first multiplied by the clip scale in stats[1]; with
//                 SKIP_NONFINITE, nothing is written when stats[2] (nonfinite) is set.
//   sumsq_partial each workgroup: Σ x² over its chunk of `chunk` elements (invocation j takes
//                 elements j, j + WG, ... in order, then a tree), and whether any was NaN/Inf,
//                 into partials[2·(base + w)], partials[2·(base + w) + 1].
//   sumsq_final   one workgroup: sums `parts` partials in the same fixed way, writes
//                 stats = [norm, scale = min(1, maxNorm/(norm + 1e-6)), nonfinite (0 or 1), 0]
//                 as torch.nn.utils.clip_grad_norm_ (with `unscale` = 1/S for gradients of a
//                 loss scaled by S: norm and scale of the true gradients, scale also times 1/S). nonfinite is also set when Σ x² overflows,
//                 and when any of stats[checkFrom .. checkFrom + checkCount) is NaN/Inf (the
//                 step's losses, kept in the same buffer).
//   scale_inplace x[offset + i] *= stats[1], four elements per invocation.
//   adamw_step4   adamw_step reading and writing vec4s (below).
//
// Bindings:
//   adamw_step    0 Params · 1 param (rw) · 2 grad (read) · 3 m (rw) · 4 v (rw) · 5 stats (read);
//                 adamw_step4 the same
//   sumsq_partial 0 Params · 1 x (read) · 2 partials (rw)
//   sumsq_final   0 Params · 1 partials (read) · 2 stats (rw)
//   scale_inplace 0 Params · 1 stats (read) · 2 x (rw)
// Invocations are numbered across a 2-D grid (x + y·nwg.x workgroups): one dimension holds ≤ 65535.

struct Params {
  n: u32, offset: u32, flags: u32, step: u32,
  decay: f32, beta1: f32, beta2: f32, eps: f32,
  oneMinusBeta1: f32, oneMinusBeta2: f32, stepSize: f32, rsqrtBc2: f32,
  chunk: u32, base: u32, parts: u32, maxNorm: f32,
  checkFrom: u32, checkCount: u32, unscale: f32, pad1: u32,
}

const WG: u32 = 64u;
const USE_CLIP: u32 = 1u;
const SKIP_NONFINITE: u32 = 2u;

@group(0) @binding(0) var<uniform> p: Params;

fn index(wg: vec3u, nwg: vec3u, lid: u32) -> u32 { return (wg.y * nwg.x + wg.x) * WG + lid; }

// ---- AdamW ------------------------------------------------------------------------------------
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> mom: array<f32>;
@group(0) @binding(4) var<storage, read_write> vel: array<f32>;
@group(0) @binding(5) var<storage, read> clipStats: array<f32>;

// One element's update from its old parameter, moments and (clipped) gradient: both step entry
// points take every element through here, so their bits are the same.
struct Updated { param: f32, m: f32, v: f32 }

fn adamw_update(param0: f32, g: f32, m0: f32, v0: f32) -> Updated {
  let m = fma(g - m0, p.oneMinusBeta1, m0);
  let v = fma(v0, p.beta2, p.oneMinusBeta2 * g * g);
  // Decay and update in one fma: one f32 rounding of the parameter per step instead of two
  // keeps 5 steps well inside 1e-6 of the float64 reference.
  return Updated(fma(param0, p.decay, -(p.stepSize * m / (sqrt(v) * p.rsqrtBc2 + p.eps))), m, v);
}

@compute @workgroup_size(WG, 1, 1)
fn adamw_step(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let k = 4u * index(wg, nwg, lid);
  if (k >= p.n) { return; }
  // A step whose loss or gradients are not finite changes nothing (the host reads why later).
  if ((p.flags & SKIP_NONFINITE) != 0u && clipStats[2] != 0.0) { return; }
  var scale = 1.0;
  if ((p.flags & USE_CLIP) != 0u) { scale = clipStats[1]; }
  for (var i = p.offset + k; i < p.offset + min(k + 4u, p.n); i++) {
    let u = adamw_update(param[i], grad[i] * scale, mom[i], vel[i]);
    mom[i] = u.m;
    vel[i] = u.v;
    param[i] = u.param;
  }
}

// adamw_step with each invocation's four elements as one vec4 of each buffer, where the host has
// the segment start and length on multiples of 4: seven 16-byte accesses an invocation where
// adamw_step makes 28 scalar ones (a software adapter pays per access and per lane). The
// arithmetic is per component anyway on such an adapter, so the scalar update costs nothing.
@group(0) @binding(1) var<storage, read_write> param4: array<vec4f>;
@group(0) @binding(2) var<storage, read> grad4: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> mom4: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> vel4: array<vec4f>;

@compute @workgroup_size(WG, 1, 1)
fn adamw_step4(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let k = 4u * index(wg, nwg, lid);
  if (k >= p.n) { return; }
  if ((p.flags & SKIP_NONFINITE) != 0u && clipStats[2] != 0.0) { return; }
  var scale = 1.0;
  if ((p.flags & USE_CLIP) != 0u) { scale = clipStats[1]; }
  let i = (p.offset + k) / 4u;
  let param0 = param4[i];
  let g = grad4[i] * scale;
  let m0 = mom4[i];
  let v0 = vel4[i];
  var q: vec4f;
  var m: vec4f;
  var v: vec4f;
  for (var c = 0u; c < 4u; c++) {
    let u = adamw_update(param0[c], g[c], m0[c], v0[c]);
    q[c] = u.param;
    m[c] = u.m;
    v[c] = u.v;
  }
  mom4[i] = m;
  vel4[i] = v;
  param4[i] = q;
}

// ---- global norm ----------------------------------------------------------------------------------
@group(0) @binding(1) var<storage, read> xs: array<f32>;
@group(0) @binding(2) var<storage, read_write> partials: array<f32>;

var<workgroup> wsum: array<f32, WG>;
var<workgroup> wbad: array<f32, WG>;

// Exponent all ones: Inf or NaN. A bit test, because WGSL lets compilers assume x == x.
fn nonfinite(x: f32) -> f32 { return select(0.0, 1.0, (bitcast<u32>(x) & 0x7f800000u) == 0x7f800000u); }

// Tree over the workgroup; the same order on every run.
fn reduceWorkgroup(lid: u32) {
  workgroupBarrier();
  for (var h = WG / 2u; h > 0u; h >>= 1u) {
    if (lid < h) {
      wsum[lid] += wsum[lid + h];
      wbad[lid] = max(wbad[lid], wbad[lid + h]);
    }
    workgroupBarrier();
  }
}

@compute @workgroup_size(WG, 1, 1)
fn sumsq_partial(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let w = wg.y * nwg.x + wg.x;
  let start = w * p.chunk;
  // Workgroups past the last chunk (the 2-D grid rounds up) must not write a partial: the next
  // slice's partials follow. w is uniform, so leaving before the barriers is safe.
  if (start >= p.n) { return; }
  let end = min(start + p.chunk, p.n);
  var s = 0.0;
  var bad = 0.0;
  for (var i = start + lid; i < end; i += WG) {
    let x = xs[p.offset + i];
    s = fma(x, x, s);
    bad = max(bad, nonfinite(x));
  }
  wsum[lid] = s;
  wbad[lid] = bad;
  reduceWorkgroup(lid);
  if (lid == 0u) {
    partials[2u * (p.base + w)] = wsum[0];
    partials[2u * (p.base + w) + 1u] = wbad[0];
  }
}

@group(0) @binding(1) var<storage, read> parts: array<f32>;
@group(0) @binding(2) var<storage, read_write> stats: array<f32>;

@compute @workgroup_size(WG, 1, 1)
fn sumsq_final(@builtin(local_invocation_index) lid: u32) {
  var s = 0.0;
  var bad = 0.0;
  for (var i = lid; i < p.parts; i += WG) {
    s += parts[2u * i];
    bad = max(bad, parts[2u * i + 1u]);
  }
  wsum[lid] = s;
  wbad[lid] = bad;
  reduceWorkgroup(lid);
  if (lid == 0u) {
    // Gradients of a loss scaled by S (mixed precision) come with unscale = 1/S: the norm and the
    // clip are the true gradients', and the scale the update multiplies by divides S out.
    let norm = sqrt(wsum[0]) * p.unscale;
    // min(1, maxNorm/(norm + 1e-6)) without forming a quotient that could overflow.
    let scale = select(p.maxNorm / (norm + 1e-6), 1.0, norm + 1e-6 <= p.maxNorm) * p.unscale;
    var bad = max(wbad[0], nonfinite(wsum[0]));
    // Other values the step must not go on from (the losses) that sit in the same buffer.
    for (var i = p.checkFrom; i < p.checkFrom + p.checkCount; i++) { bad = max(bad, nonfinite(stats[i])); }
    stats[0] = norm;
    stats[1] = scale;
    stats[2] = bad;
    stats[3] = 0.0;
  }
}

// ---- clip in place ---------------------------------------------------------------------------------
@group(0) @binding(1) var<storage, read> scaleStats: array<f32>;
@group(0) @binding(2) var<storage, read_write> clipped: array<f32>;

@compute @workgroup_size(WG, 1, 1)
fn scale_inplace(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  // Four elements per invocation: on a software adapter the load of the scale costs as much as
  // the load of an element, uniform address or not.
  let k = 4u * index(wg, nwg, lid);
  if (k >= p.n) { return; }
  let scale = scaleStats[1];
  for (var c = k; c < min(k + 4u, p.n); c++) { clipped[p.offset + c] *= scale; }
}
