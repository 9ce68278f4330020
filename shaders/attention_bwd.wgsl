// attention_bwd.wgsl — fused multi-head attention backward, flash-attention-2 style: scores are
// recomputed block by block from Q, K and the forward's lse, never stored. Deterministic, no
// atomics: each output row is owned by exactly one lane.
//
//   attn_bwd_dkv  lane owns R key rows: for every query i, p = exp(s − lse_i),
//                 dV += p·dO_i, dS = p·(dO_i·V_j − D_i), dK += scale·dS·Q_i
//   attn_bwd_dq   lane owns R query rows: for every key j, dQ += scale·dS·K_j
// D = rowsum(dO∘O) comes from attn_delta (attention_rows.wgsl) beforehand.
//
// Same scheme as attn_fwd (attention.wgsl, which documents it): one subgroup per workgroup, the
// other side's rows go by in blocks of SG, one row per lane, shared by subgroupBroadcast. Per
// block lane c loads row c of the block and the unrolled body handles the block's row C. Scores
// are in base 2 (the owned side is pre-multiplied by scale·log2 e; lse is turned to base 2).
// Bindings: 0 Params · 1 Q · 2 K · 3 V · 4 keyMask (u32) · 5 dO · 6 lse · 7 D · 8 dK or dQ (rw)
// · 9 dV (rw). Where dK and dV share a buffer (a fused dQKV), SHARED_KV puts dV through binding 8
// too: two writable bindings of one buffer may not alias.
enable subgroups;

struct Params {
  B: u32, H: u32, Lq: u32, Lk: u32,
  scale2: f32,
  causalOff: i32,
  flags: u32,
  pad0: u32,
  q: vec4u, k: vec4u, v: vec4u, o: vec4u,
  dout: vec4u, dq: vec4u, dk: vec4u, dv: vec4u,
}

const SG: u32 = 8u;
const R: u32 = 2u;     // rows per lane
const HD: u32 = 64u;    // a multiple of 4; rows are held as vec4s (see attention.wgsl)
const HD4: u32 = HD / 4u;
const CAUSAL: u32 = 1u;
const KEY_MASK: u32 = 2u;
const SHARED_KV: u32 = 4u;
const LOG2E: f32 = 1.4426950408889634;
const LN2: f32 = 0.6931471805599453;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> Q: array<f32>;
@group(0) @binding(2) var<storage, read> K: array<f32>;
@group(0) @binding(3) var<storage, read> V: array<f32>;
@group(0) @binding(4) var<storage, read> keyMask: array<u32>;
@group(0) @binding(5) var<storage, read> dO: array<f32>;
@group(0) @binding(6) var<storage, read> lse: array<f32>;
@group(0) @binding(7) var<storage, read> delta: array<f32>;
@group(0) @binding(8) var<storage, read_write> G1: array<f32>;
@group(0) @binding(9) var<storage, read_write> G2: array<f32>;

fn base(l: vec4u, b: u32, h: u32) -> u32 { return l.x + b * l.y + h * l.z; }

fn ld(a: u32, which: u32) -> vec4f {
  switch (which) {
    case 0u: { return vec4f(Q[a], Q[a + 1u], Q[a + 2u], Q[a + 3u]); }
    case 1u: { return vec4f(K[a], K[a + 1u], K[a + 2u], K[a + 3u]); }
    case 2u: { return vec4f(V[a], V[a + 1u], V[a + 2u], V[a + 3u]); }
    default: { return vec4f(dO[a], dO[a + 1u], dO[a + 2u], dO[a + 3u]); }
  }
}

// Two functions, not one with a flag: attn_bwd_dq has no binding 9 and must not touch G2.
fn st1(a: u32, x: vec4f) { G1[a] = x.x; G1[a + 1u] = x.y; G1[a + 2u] = x.z; G1[a + 3u] = x.w; }
fn st2(a: u32, x: vec4f) { G2[a] = x.x; G2[a + 1u] = x.y; G2[a + 2u] = x.z; G2[a + 3u] = x.w; }

fn attends(b: u32, i: u32, j: u32) -> bool {
  if (i >= p.Lq || j >= p.Lk) { return false; }
  if ((p.flags & KEY_MASK) != 0u && keyMask[b * p.Lk + j] == 0u) { return false; }
  if ((p.flags & CAUSAL) != 0u && i32(j) > i32(i) + p.causalOff) { return false; }
  return true;
}

@compute @workgroup_size(SG, 1, 1)
fn attn_bwd_dkv(@builtin(workgroup_id) wg: vec3u, @builtin(subgroup_invocation_id) lane: u32) {
  let b = wg.y / p.H;
  let h = wg.y % p.H;
  let k0 = wg.x * SG * R;
  let kb = base(p.k, b, h);
  let vb = base(p.v, b, h);
  let qb = base(p.q, b, h);
  let gb = base(p.dout, b, h);
  var k: array<array<vec4f, HD4>, R>;
  var v: array<array<vec4f, HD4>, R>;
  var dk: array<array<vec4f, HD4>, R>;
  var dv: array<array<vec4f, HD4>, R>;
  for (var r = 0u; r < R; r++) {
    let j = min(k0 + r * SG + lane, p.Lk - 1u);
    for (var d = 0u; d < HD4; d++) {
      k[r][d] = ld(kb + j * p.k.w + 4u * d, 1u) * p.scale2;
      v[r][d] = ld(vb + j * p.v.w + 4u * d, 2u);
    }
  }
  // Causal: queries before k0 − causalOff see none of this block's keys.
  var iStart = 0u;
  if ((p.flags & CAUSAL) != 0u) { iStart = u32(clamp(i32(k0) - p.causalOff, 0, i32(p.Lq))); }
  for (var i0 = iStart; i0 < p.Lq; i0 += SG) {
    let il = min(i0 + lane, p.Lq - 1u);
    var qr: array<vec4f, HD4>;
    var gr: array<vec4f, HD4>;
    for (var d = 0u; d < HD4; d++) {
      qr[d] = ld(qb + il * p.q.w + 4u * d, 0u);
      gr[d] = ld(gb + il * p.dout.w + 4u * d, 3u);
    }
    let myLse = lse[wg.y * p.Lq + il] * LOG2E;
    let myD = delta[wg.y * p.Lq + il];
    //#unroll C SG
    {
      var s: array<f32, R>;
      var dp: array<f32, R>;
      for (var r = 0u; r < R; r++) { s[r] = 0.0; dp[r] = 0.0; }
      for (var d = 0u; d < HD4; d++) {
        let x = subgroupBroadcast(qr[d], C);
        let g = subgroupBroadcast(gr[d], C);
        for (var r = 0u; r < R; r++) { s[r] += dot(k[r][d], x); dp[r] += dot(v[r][d], g); }
      }
      let lc = subgroupBroadcast(myLse, C);
      let dc = subgroupBroadcast(myD, C);
      for (var r = 0u; r < R; r++) {
        let pr = select(0.0, exp2(s[r] - lc), attends(b, i0 + C, k0 + r * SG + lane));
        s[r] = pr;
        dp[r] = pr * (dp[r] - dc);
      }
      for (var d = 0u; d < HD4; d++) {
        let x = subgroupBroadcast(qr[d], C);
        let g = subgroupBroadcast(gr[d], C);
        for (var r = 0u; r < R; r++) { dv[r][d] = fma(vec4f(s[r]), g, dv[r][d]); dk[r][d] = fma(vec4f(dp[r]), x, dk[r][d]); }
      }
    }
    //#end
  }
  let scale = p.scale2 * LN2;
  let sharedKV = (p.flags & SHARED_KV) != 0u;
  let dkb = base(p.dk, b, h);
  let dvb = base(p.dv, b, h);
  for (var r = 0u; r < R; r++) {
    let j = k0 + r * SG + lane;
    if (j >= p.Lk) { continue; }
    for (var d = 0u; d < HD4; d++) {
      st1(dkb + j * p.dk.w + 4u * d, dk[r][d] * scale);
      if (sharedKV) { st1(dvb + j * p.dv.w + 4u * d, dv[r][d]); } else { st2(dvb + j * p.dv.w + 4u * d, dv[r][d]); }
    }
  }
}

@compute @workgroup_size(SG, 1, 1)
fn attn_bwd_dq(@builtin(workgroup_id) wg: vec3u, @builtin(subgroup_invocation_id) lane: u32) {
  let b = wg.y / p.H;
  let h = wg.y % p.H;
  let q0 = wg.x * SG * R;
  let kb = base(p.k, b, h);
  let vb = base(p.v, b, h);
  let qb = base(p.q, b, h);
  let gb = base(p.dout, b, h);
  var q: array<array<vec4f, HD4>, R>;
  var g: array<array<vec4f, HD4>, R>;
  var dq: array<array<vec4f, HD4>, R>;
  var lr: array<f32, R>;
  var dl: array<f32, R>;
  for (var r = 0u; r < R; r++) {
    let i = min(q0 + r * SG + lane, p.Lq - 1u);
    for (var d = 0u; d < HD4; d++) {
      q[r][d] = ld(qb + i * p.q.w + 4u * d, 0u) * p.scale2;
      g[r][d] = ld(gb + i * p.dout.w + 4u * d, 3u);
    }
    lr[r] = lse[wg.y * p.Lq + i] * LOG2E;
    dl[r] = delta[wg.y * p.Lq + i];
  }
  var kEnd = p.Lk;
  if ((p.flags & CAUSAL) != 0u) { kEnd = u32(clamp(i32(q0 + SG * R) + p.causalOff, 0, i32(p.Lk))); }
  for (var j0 = 0u; j0 < kEnd; j0 += SG) {
    let jl = min(j0 + lane, p.Lk - 1u);
    var kr: array<vec4f, HD4>;
    var vr: array<vec4f, HD4>;
    for (var d = 0u; d < HD4; d++) {
      kr[d] = ld(kb + jl * p.k.w + 4u * d, 1u);
      vr[d] = ld(vb + jl * p.v.w + 4u * d, 2u);
    }
    //#unroll C SG
    {
      var s: array<f32, R>;
      var dp: array<f32, R>;
      for (var r = 0u; r < R; r++) { s[r] = 0.0; dp[r] = 0.0; }
      for (var d = 0u; d < HD4; d++) {
        let x = subgroupBroadcast(kr[d], C);
        let y = subgroupBroadcast(vr[d], C);
        for (var r = 0u; r < R; r++) { s[r] += dot(q[r][d], x); dp[r] += dot(g[r][d], y); }
      }
      for (var r = 0u; r < R; r++) {
        let pr = select(0.0, exp2(s[r] - lr[r]), attends(b, q0 + r * SG + lane, j0 + C));
        s[r] = pr * (dp[r] - dl[r]);
      }
      for (var d = 0u; d < HD4; d++) {
        let x = subgroupBroadcast(kr[d], C);
        for (var r = 0u; r < R; r++) { dq[r][d] = fma(vec4f(s[r]), x, dq[r][d]); }
      }
    }
    //#end
  }
  let scale = p.scale2 * LN2;
  let dqb = base(p.dq, b, h);
  for (var r = 0u; r < R; r++) {
    let i = q0 + r * SG + lane;
    if (i >= p.Lq) { continue; }
    for (var d = 0u; d < HD4; d++) { st1(dqb + i * p.dq.w + 4u * d, dq[r][d] * scale); }
  }
}
