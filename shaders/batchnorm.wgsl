// batchnorm.wgsl — batch normalisation over channel-major float32 tensors x [B, C, S...] (NCHW
// with S = H·W; [B, C] for S = 1): statistics per channel over its B·S elements.
//
//   bn_stats        training statistics: one workgroup per channel sums its B·S elements in WG
//                   strided partials folded in a fixed order (deterministic), two passes
//                   (mean, then Σ(x − mean)²): mean, rstd = 1/√(biased var + eps); with
//                   UPDATE_RUNNING, running_mean/var ← (1 − momentum)·running + momentum·batch,
//                   the variance unbiased (·n/(n − 1)), as PyTorch.
//                   0 Params · 1 x (read) · 2 mean · 3 rstd · 4 running_mean · 5 running_var (rw)
//   bn_eval_stats   inference statistics: mean = running_mean, rstd = 1/√(running_var + eps), so
//                   that bn_apply and the backward are the same in both modes.
//                   0 Params · 1 running_mean · 2 running_var (read) · 3 mean · 4 rstd (rw)
//   bn_apply        y = (x − mean)·rstd·γ + β, one invocation per element (PLANES: below).
//                   0 Params · 1 x · 2 mean · 3 rstd · 4 γ · 5 β (read) · 6 y (rw)
//   bn_bwd_sums     per channel (one workgroup): sums[c] = Σ dy·x̂ (dγ), sums[C + c] = Σ dy (dβ).
//                   0 Params · 1 x · 2 dy · 3 mean · 4 rstd (read) · 5 sums (rw)
//   bn_bwd_dx       dx = γ·rstd·(dy − (Σdy + x̂·Σdy·x̂)/n) with TRAINING (the batch statistics
//                   depend on x), γ·rstd·dy without (frozen running statistics); dx += with
//                   ACCUMULATE. One invocation per element.
//                   0 Params · 1 x · 2 dy · 3 mean · 4 rstd · 5 γ · 6 sums (read) · 7 dx (rw)

struct Params {
  C: u32, S: u32, n: u32, total: u32,
  flags: u32, offX: u32, offG: u32, offB: u32,
  offY: u32, offMean: u32, offRstd: u32, offRM: u32,
  offRV: u32, offDy: u32, eps: f32, momentum: f32,
}

const UPDATE_RUNNING: u32 = 1u;
const TRAINING: u32 = 2u;
const ACCUMULATE: u32 = 4u;
// Elementwise passes: grid x = chunk of 64·EPT within a (b, c) plane, y = c, z = b, so that no
// lane divides (a software adapter has no vector integer division); else a flat index divided.
const PLANES: u32 = 8u;
const WG: u32 = 64u;
const EPT: u32 = 16u;

@group(0) @binding(0) var<uniform> p: Params;
// bn_stats
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> mean_out: array<f32>;
@group(0) @binding(3) var<storage, read_write> rstd_out: array<f32>;
@group(0) @binding(4) var<storage, read_write> running_mean: array<f32>;
@group(0) @binding(5) var<storage, read_write> running_var: array<f32>;
// bn_eval_stats
@group(0) @binding(1) var<storage, read> rm_in: array<f32>;
@group(0) @binding(2) var<storage, read> rv_in: array<f32>;
@group(0) @binding(3) var<storage, read_write> mean_eval: array<f32>;
@group(0) @binding(4) var<storage, read_write> rstd_eval: array<f32>;
// bn_apply, bn_bwd_sums, bn_bwd_dx
@group(0) @binding(2) var<storage, read> mean_in: array<f32>;
@group(0) @binding(3) var<storage, read> rstd_in: array<f32>;
@group(0) @binding(4) var<storage, read> gamma: array<f32>;
@group(0) @binding(5) var<storage, read> beta: array<f32>;
@group(0) @binding(6) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<storage, read> dy_s: array<f32>;
@group(0) @binding(3) var<storage, read> mean_s: array<f32>;
@group(0) @binding(4) var<storage, read> rstd_s: array<f32>;
@group(0) @binding(5) var<storage, read_write> sums_out: array<f32>;
@group(0) @binding(2) var<storage, read> dy_d: array<f32>;
@group(0) @binding(5) var<storage, read> gamma_d: array<f32>;
@group(0) @binding(6) var<storage, read> sums_in: array<f32>;
@group(0) @binding(7) var<storage, read_write> dx: array<f32>;

var<workgroup> partial: array<vec2f, WG>;

// Sum over the workgroup, every invocation folding the WG partials in the same order.
fn wg_sum(lid: u32, v: vec2f) -> vec2f {
  workgroupBarrier();
  partial[lid] = v;
  workgroupBarrier();
  var acc = partial[0];
  for (var i = 1u; i < WG; i++) { acc += partial[i]; }
  return acc;
}

// Element i (of the channel's B·S) of channel c, relative to the tensor's start.
fn at(c: u32, i: u32) -> u32 {
  let b = i / p.S;
  return (b * p.C + c) * p.S + (i - b * p.S);
}

fn channel(wg: vec3u, nwg: vec3u) -> u32 { return wg.y * nwg.x + wg.x; }
fn flat(wg: vec3u, nwg: vec3u, lid: u32) -> u32 { return (wg.y * nwg.x + wg.x) * WG + lid; }

// Elementwise passes: in PLANES mode invocation lid of workgroup (x, c, b) takes elements
// s = (x·EPT + k)·WG + lid of plane (b, c), k < EPT (a software adapter pays microseconds per
// workgroup); else one element per invocation of a flat range. The element (from the tensor's
// start) and channel of step k, or (total, 0) past the end.
fn element(wg: vec3u, nwg: vec3u, lid: u32, k: u32) -> vec2u {
  if ((p.flags & PLANES) != 0u) {
    let s = (wg.x * EPT + k) * WG + lid;
    if (s >= p.S) { return vec2u(p.total, 0u); }
    return vec2u((wg.z * p.C + wg.y) * p.S + s, wg.y);
  }
  let e = flat(wg, nwg, lid);
  if (k > 0u) { return vec2u(p.total, 0u); }
  return vec2u(e, (e / p.S) % p.C);
}

@compute @workgroup_size(WG, 1, 1)
fn bn_stats(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  // Workgroups past the last channel (the 2-D grid rounds up) work on the last one and write
  // nothing: the barriers stay in uniform control flow.
  let c0 = channel(wg, nwg);
  let c = min(c0, p.C - 1u);
  // Planes of S ≥ WG are walked row by row with no division; shorter ones by a flat index.
  let rows = p.S >= WG;
  var s = 0.0;
  if (rows) {
    for (var b = 0u; b < p.n / p.S; b++) {
      let base = p.offX + (b * p.C + c) * p.S;
      for (var i = lid; i < p.S; i += WG) { s += x[base + i]; }
    }
  } else {
    for (var i = lid; i < p.n; i += WG) { s += x[p.offX + at(c, i)]; }
  }
  let mean = wg_sum(lid, vec2f(s, 0.0)).x / f32(p.n);
  var q = 0.0;
  if (rows) {
    for (var b = 0u; b < p.n / p.S; b++) {
      let base = p.offX + (b * p.C + c) * p.S;
      for (var i = lid; i < p.S; i += WG) {
        let d = x[base + i] - mean;
        q = fma(d, d, q);
      }
    }
  } else {
    for (var i = lid; i < p.n; i += WG) {
      let d = x[p.offX + at(c, i)] - mean;
      q = fma(d, d, q);
    }
  }
  let m2 = wg_sum(lid, vec2f(q, 0.0)).x;
  if (lid != 0u || c0 >= p.C) { return; }
  mean_out[p.offMean + c] = mean;
  rstd_out[p.offRstd + c] = inverseSqrt(m2 / f32(p.n) + p.eps);
  if ((p.flags & UPDATE_RUNNING) != 0u) {
    let k = p.momentum;
    running_mean[p.offRM + c] = (1.0 - k) * running_mean[p.offRM + c] + k * mean;
    running_var[p.offRV + c] = (1.0 - k) * running_var[p.offRV + c] + k * (m2 / f32(p.n - 1u));
  }
}

@compute @workgroup_size(WG, 1, 1)
fn bn_eval_stats(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let c = flat(wg, nwg, lid);
  if (c >= p.C) { return; }
  mean_eval[p.offMean + c] = rm_in[p.offRM + c];
  rstd_eval[p.offRstd + c] = inverseSqrt(rv_in[p.offRV + c] + p.eps);
}

@compute @workgroup_size(WG, 1, 1)
fn bn_apply(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  for (var k = 0u; k < EPT; k++) {
    let ec = element(wg, nwg, lid, k);
    let e = ec.x;
    let c = ec.y;
    if (e >= p.total) { return; }
    let xh = (x[p.offX + e] - mean_in[p.offMean + c]) * rstd_in[p.offRstd + c];
    y[p.offY + e] = fma(xh, gamma[p.offG + c], beta[p.offB + c]);
  }
}

@compute @workgroup_size(WG, 1, 1)
fn bn_bwd_sums(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let c0 = channel(wg, nwg);
  let c = min(c0, p.C - 1u);
  let mean = mean_s[p.offMean + c];
  let rstd = rstd_s[p.offRstd + c];
  var s = vec2f(0.0);
  if (p.S >= WG) {
    for (var b = 0u; b < p.n / p.S; b++) {
      let base = (b * p.C + c) * p.S;
      for (var i = lid; i < p.S; i += WG) {
        let g = dy_s[p.offDy + base + i];
        s += vec2f(g * (x[p.offX + base + i] - mean) * rstd, g);
      }
    }
  } else {
    for (var i = lid; i < p.n; i += WG) {
      let a = at(c, i);
      let g = dy_s[p.offDy + a];
      s += vec2f(g * (x[p.offX + a] - mean) * rstd, g);
    }
  }
  s = wg_sum(lid, s);
  if (lid == 0u && c0 < p.C) {
    sums_out[c] = s.x;
    sums_out[p.C + c] = s.y;
  }
}

@compute @workgroup_size(WG, 1, 1)
fn bn_bwd_dx(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  for (var k = 0u; k < EPT; k++) {
    let ec = element(wg, nwg, lid, k);
    let e = ec.x;
    let c = ec.y;
    if (e >= p.total) { return; }
    let rstd = rstd_s[p.offRstd + c];
    var g = dy_d[p.offDy + e];
    if ((p.flags & TRAINING) != 0u) {
      let xh = (x[p.offX + e] - mean_s[p.offMean + c]) * rstd;
      g -= (sums_in[p.C + c] + xh * sums_in[c]) / f32(p.n);
    }
    var v = gamma_d[p.offG + c] * rstd * g;
    if ((p.flags & ACCUMULATE) != 0u) { v += dx[p.offY + e]; }
    dx[p.offY + e] = v;
  }
}
