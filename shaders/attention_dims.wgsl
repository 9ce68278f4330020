// attention_dims.wgsl — the fused attention forward with the head dim spread over the lanes, for
// head dims whose rows do not fit one lane's registers (attention.wgsl keeps a whole HD-wide row
// per lane: at HD = 128 its Q, O and K arrays alone are 384 floats a lane, and they spill).
//
//   attn_fwd_dims  O = softmax(scale·Q·Kᵀ + mask)·V and lse per query row, online softmax, as
//                  attn_fwd (attention.wgsl documents the scheme, the base-2 scores, the masking
//                  and the −∞ lse of a row that sees no key).
//
// One workgroup is one subgroup and owns R query rows of one (batch, head), all lanes together:
// lane `lane` holds dims d·SG + lane (d < DL = HD/SG) of each row's Q and O accumulator, DL·2·R
// floats in all. Keys go by one at a time: every lane loads its DL dims of K_j and V_j
// (neighbouring lanes read neighbouring words), the score of row r is subgroupAdd of the lanes'
// partial dot products, and each loaded K or V value feeds R FMAs. Loop bounds depend only on
// the workgroup and uniforms, and masked keys are zeroed by select, so every lane reaches every
// subgroupAdd.
// Bindings as attn_fwd: 0 Params · 1 Q · 2 K · 3 V · 4 keyMask · 5 O (rw) · 6 lse (rw); with
// APPEND, 2 the K|V cache (rw) and 3 the new rows (attention_common.wgsl).
enable subgroups;

//#include attention_common

const SG: u32 = 8u;    // the adapter's fixed subgroup size
const R: u32 = 4u;    // query rows per workgroup
const HD: u32 = 128u;  // head dim, a multiple of SG
const DL: u32 = HD / SG;
const NEG: f32 = -1.0e30;

@group(0) @binding(5) var<storage, read_write> O: array<f32>;
@group(0) @binding(6) var<storage, read_write> lse: array<f32>;

@compute @workgroup_size(SG, 1, 1)
fn attn_fwd_dims(@builtin(workgroup_id) wg: vec3u, @builtin(subgroup_invocation_id) lane: u32) {
  let b = wg.y / p.H;
  let h = wg.y % p.H;
  //#if APPEND
  appendRows(b, h, lane, SG, HD);
  //#end
  let q0 = wg.x * R;
  let qb = base(p.q, b, h);
  let kb = base(p.k, b, h);
  let vb = base(p.v, b, h);
  var q: array<array<f32, DL>, R>;
  var acc: array<array<f32, DL>, R>;
  var m: array<f32, R>;
  var l: array<f32, R>;
  for (var r = 0u; r < R; r++) {
    // Rows past Lq are clamped (in-bounds loads), computed, and not stored.
    let i = min(q0 + r, p.Lq - 1u);
    for (var d = 0u; d < DL; d++) {
      q[r][d] = inF16(Q[qb + i * p.q.w + d * SG + lane]) * p.scale2;
      acc[r][d] = 0.0;
    }
    m[r] = NEG;
    l[r] = 0.0;
  }
  let kEnd = keyEnd(q0 + R);
  for (var j = 0u; j < kEnd; j++) {
    var kr: array<f32, DL>;
    var vr: array<f32, DL>;
    for (var d = 0u; d < DL; d++) {
      kr[d] = loadK1(kb + j * p.k.w + d * SG + lane);
      vr[d] = loadV1(vb + j * p.v.w + d * SG + lane);
    }
    for (var r = 0u; r < R; r++) {
      var part = 0.0;
      for (var d = 0u; d < DL; d++) { part = fma(q[r][d], kr[d], part); }
      let s = subgroupAdd(part);
      // A masked key changes nothing (select, not a branch: the next subgroupAdd must stay in
      // uniform control flow, and the mask is read from memory).
      let ok = attends(b, q0 + r, j);
      let mx = select(m[r], max(m[r], s), ok);
      let corr = exp2(m[r] - mx);
      let w = select(0.0, exp2(s - mx), ok);
      l[r] = fma(l[r], corr, w);
      m[r] = mx;
      for (var d = 0u; d < DL; d++) { acc[r][d] = fma(w, vr[d], acc[r][d] * corr); }
    }
  }
  let ob = base(p.o, b, h);
  for (var r = 0u; r < R; r++) {
    let i = q0 + r;
    if (i >= p.Lq) { continue; }
    let inv = select(0.0, 1.0 / l[r], l[r] > 0.0);
    for (var d = 0u; d < DL; d++) { O[ob + i * p.o.w + d * SG + lane] = acc[r][d] * inv; }
    // −∞ for a row that sees no key, built at run time (attention.wgsl says why).
    if (lane == 0u) { lse[wg.y * p.Lq + i] = select(bitcast<f32>(0xff800000u | (p.flags & 0x80000000u)), (m[r] + log2(l[r])) * LN2, l[r] > 0.0); }
  }
}
