// contrastive.wgsl — CoCa's contrastive loss on the GPU: symmetric InfoNCE over L2-normalised
// image and text embeddings [B, E] with a learned, clamped temperature, its loss and the
// gradients of weight·loss (reference: kernels/contrastive.ref.ts). Fixed summation order, no
// atomics: the same numbers on every run.
//
// Entry points, in the order kernels/contrastive.ts records them:
//   con_normalize  one workgroup per row r of [img; txt] (2B rows): n = x / max(‖x‖, 1e-12)
//                  into work.n[r], ‖x‖ into work.norm[r]
//   con_logits     one invocation per (i, j): l_ij = s·⟨n_img_i, n_txt_j⟩, s = exp(clamp(stored))
//   con_lse        one invocation per row i (r < B) and per column j (r = B + j) of l: its log Σ exp
//   con_finish     one workgroup: loss = Σ_i (lseR_i + lseC_i − 2 l_ii) / 2B into out[at],
//                  the clamped log-scale into out[at + 1]; WITH_GRAD: d(weight·loss)/d(log-scale)
//                  = weight·Σ_ij G_ij l_ij into gscale; CLAMP_PARAM: writes the clamped value back
//                  into the parameter (open_clip clamps the parameter after every update)
//   con_backward   one workgroup per row r (WITH_GRAD only): dn = s·weight·Σ_k G·n_other (G_ij =
//                  (P^row_ij + P^col_ij − 2δ_ij)/2B, recomputed from l and the lses), then the
//                  normalisation's backward dx = (dn − n·⟨n, dn⟩)/‖x‖ into dimg / dtxt
//
// Bindings (every entry): 0 Params · 1 img (read) · 2 txt (read) · 3 scale (rw: the logit-scale
// parameter) · 4 work (rw: scratch, layout below) · 5 dimg (rw) · 6 dtxt (rw) · 7 out (rw) ·
// 8 gscale (rw).
// work: n [2B·E] at 0 · norm [2B] at 2BE · l [B·B] at 2BE + 2B · lse [2B] after l; with GROUPS
// also grp [B] (each row's group id, as an exact float) and inv [B] (1 / the rows of its group),
// both written by the host before the first dispatch.
// One workgroup holds one row of dn in workgroup memory: E ≤ MAX_E (the host checks).
//
// GROUPS (a define, kernels/contrastive.ts sets it when the call has groups): multi-positive
// InfoNCE (SupCon / UniCL): the target of row i and of column i is uniform over the rows of i's
// group, Y_ij = [grp_i = grp_j]·inv_i (symmetric, since rows of one group share inv), in place of
// δ_ij. Loss = Σ_i (lseR_i + lseC_i − 2 Σ_j Y_ij l_ij) / 2B; G_ij = (P^row_ij + P^col_ij − 2Y_ij)/2B.
// Without it the lines below are exactly the one-positive kernel's, so its numbers do not move.

struct Params {
  B: u32, E: u32, flags: u32, at: u32,
  offImg: u32, offTxt: u32, offScale: u32, offGScale: u32,
  offDImg: u32, offDTxt: u32, weight: f32, maxLogScale: f32,
}

const WG: u32 = 64u;
const MAX_E: u32 = 2048u;
const CHUNK: u32 = 256u;
const WITH_GRAD: u32 = 1u;
const CLAMP_PARAM: u32 = 2u;
const GROUPS: bool = false;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> img: array<f32>;
@group(0) @binding(2) var<storage, read> txt: array<f32>;
@group(0) @binding(3) var<storage, read_write> scale: array<f32>;
@group(0) @binding(4) var<storage, read_write> work: array<f32>;
@group(0) @binding(5) var<storage, read_write> dimg: array<f32>;
@group(0) @binding(6) var<storage, read_write> dtxt: array<f32>;
@group(0) @binding(7) var<storage, read_write> out: array<f32>;
@group(0) @binding(8) var<storage, read_write> gscale: array<f32>;

var<workgroup> red: array<f32, WG>;
var<workgroup> dn: array<f32, MAX_E>;
var<workgroup> gs: array<f32, CHUNK>;

fn normAt() -> u32 { return 2u * p.B * p.E; }
fn logitsAt() -> u32 { return normAt() + 2u * p.B; }
fn lseAt() -> u32 { return logitsAt() + p.B * p.B; }
//#if GROUPS
fn grpAt() -> u32 { return lseAt() + 2u * p.B; }
fn invAt() -> u32 { return grpAt() + p.B; }

// Y_ij: row i's (and column j's) target weight on the pair (i, j).
fn targetWeight(i: u32, j: u32) -> f32 { return select(0.0, work[invAt() + i], work[grpAt() + i] == work[grpAt() + j]); }
//#end

fn clampedLogScale() -> f32 { return clamp(scale[p.offScale], 0.0, p.maxLogScale); }

fn flatIndex(wg: vec3u, nwg: vec3u) -> u32 { return wg.y * nwg.x + wg.x; }

// Tree sum of red[] over the workgroup; the same order every run.
fn reduceSum(lid: u32) -> f32 {
  workgroupBarrier();
  for (var h = WG / 2u; h > 0u; h >>= 1u) {
    if (lid < h) { red[lid] += red[lid + h]; }
    workgroupBarrier();
  }
  let total = red[0];
  workgroupBarrier();
  return total;
}

fn rawAt(r: u32, e: u32) -> f32 {
  if (r < p.B) { return img[p.offImg + r * p.E + e]; }
  return txt[p.offTxt + (r - p.B) * p.E + e];
}

@compute @workgroup_size(WG, 1, 1)
fn con_normalize(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let r = flatIndex(wg, nwg);
  if (r >= 2u * p.B) { return; } // uniform per workgroup: safe before the barriers
  var s = 0.0;
  for (var e = lid; e < p.E; e += WG) {
    let x = rawAt(r, e);
    s = fma(x, x, s);
  }
  red[lid] = s;
  let norm = max(sqrt(reduceSum(lid)), 1e-12); // F.normalize's eps
  for (var e = lid; e < p.E; e += WG) { work[r * p.E + e] = rawAt(r, e) / norm; }
  if (lid == 0u) { work[normAt() + r] = norm; }
}

@compute @workgroup_size(WG, 1, 1)
fn con_logits(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let k = flatIndex(wg, nwg) * WG + lid;
  if (k >= p.B * p.B) { return; }
  let i = k / p.B;
  let j = k % p.B;
  let a = i * p.E;
  let t = (p.B + j) * p.E;
  var d = 0.0;
  for (var e = 0u; e < p.E; e++) { d = fma(work[a + e], work[t + e], d); }
  work[logitsAt() + k] = exp(clampedLogScale()) * d;
}

// l_ij as row r of l (r < B) or column r − B walks it.
fn lAlong(r: u32, k: u32) -> f32 {
  if (r < p.B) { return work[logitsAt() + r * p.B + k]; }
  return work[logitsAt() + k * p.B + (r - p.B)];
}

@compute @workgroup_size(WG, 1, 1)
fn con_lse(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let r = flatIndex(wg, nwg) * WG + lid;
  if (r >= 2u * p.B) { return; }
  var m = lAlong(r, 0u);
  for (var k = 1u; k < p.B; k++) { m = max(m, lAlong(r, k)); }
  var s = 0.0;
  for (var k = 0u; k < p.B; k++) { s += exp(lAlong(r, k) - m); }
  work[lseAt() + r] = m + log(s);
}

// d loss / d l_ij, unweighted.
fn gradLogit(i: u32, j: u32) -> f32 {
  let l = work[logitsAt() + i * p.B + j];
  var g = exp(l - work[lseAt() + i]) + exp(l - work[lseAt() + p.B + j]);
  //#if GROUPS
  g -= 2.0 * targetWeight(i, j);
  //#else
  if (i == j) { g -= 2.0; }
  //#end
  return g / f32(2u * p.B);
}

@compute @workgroup_size(WG, 1, 1)
fn con_finish(@builtin(local_invocation_index) lid: u32) {
  var s = 0.0;
  //#if GROUPS
  for (var i = lid; i < p.B; i += WG) { s += work[lseAt() + i] + work[lseAt() + p.B + i]; }
  for (var k = lid; k < p.B * p.B; k += WG) { s -= 2.0 * targetWeight(k / p.B, k % p.B) * work[logitsAt() + k]; }
  //#else
  for (var i = lid; i < p.B; i += WG) { s += work[lseAt() + i] + work[lseAt() + p.B + i] - 2.0 * work[logitsAt() + i * p.B + i]; }
  //#end
  red[lid] = s;
  let loss = reduceSum(lid) / f32(2u * p.B);
  let withGrad = (p.flags & WITH_GRAD) != 0u;
  var ds = 0.0;
  if (withGrad) {
    for (var k = lid; k < p.B * p.B; k += WG) { ds = fma(gradLogit(k / p.B, k % p.B), work[logitsAt() + k], ds); }
  }
  red[lid] = ds;
  let dScale = reduceSum(lid) * p.weight;
  if (lid == 0u) {
    let stored = scale[p.offScale];
    let clamped = clampedLogScale();
    out[p.at] = loss;
    out[p.at + 1u] = clamped;
    if (withGrad) { gscale[p.offGScale] = dScale; }
    if ((p.flags & CLAMP_PARAM) != 0u && clamped != stored) { scale[p.offScale] = clamped; }
  }
}

@compute @workgroup_size(WG, 1, 1)
fn con_backward(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let r = flatIndex(wg, nwg);
  if (r >= 2u * p.B) { return; }
  let isImg = r < p.B;
  let row = select(r - p.B, r, isImg);
  // The other modality's rows start here in work.n.
  let other = select(0u, p.B * p.E, isImg);
  for (var e = lid; e < p.E; e += WG) { dn[e] = 0.0; }
  for (var k0 = 0u; k0 < p.B; k0 += CHUNK) {
    workgroupBarrier();
    for (var c = lid; c < CHUNK && k0 + c < p.B; c += WG) {
      let k = k0 + c;
      gs[c] = select(gradLogit(k, row), gradLogit(row, k), isImg);
    }
    workgroupBarrier();
    let n = min(CHUNK, p.B - k0);
    // Each invocation owns the elements e ≡ lid (mod WG): no two write the same dn[e].
    for (var e = lid; e < p.E; e += WG) {
      var acc = dn[e];
      for (var c = 0u; c < n; c++) { acc = fma(gs[c], work[other + (k0 + c) * p.E + e], acc); }
      dn[e] = acc;
    }
  }
  let f = exp(clampedLogScale()) * p.weight;
  var dot = 0.0;
  for (var e = lid; e < p.E; e += WG) {
    dn[e] *= f;
    dot = fma(work[r * p.E + e], dn[e], dot);
  }
  red[lid] = dot;
  let total = reduceSum(lid);
  let norm = work[normAt() + r];
  for (var e = lid; e < p.E; e += WG) {
    let v = (dn[e] - work[r * p.E + e] * total) / norm;
    if (isImg) { dimg[p.offDImg + row * p.E + e] = v; } else { dtxt[p.offDTxt + row * p.E + e] = v; }
  }
}
