// attention_bwd.wgsl — fused multi-head attention backward, flash-attention-2 style: scores are
// recomputed block by block from Q, K and the forward's lse, never stored. Deterministic, no
// atomics: each output row is owned by exactly one lane.
//
//   attn_bwd_dkv  lane owns R key rows: for every query i, p = exp(s − lse_i),
//                 dV += p·dO_i, dS = p·(dO_i·V_j − D_i), dK += scale·dS·Q_i
//   attn_bwd_dq   lane owns R query rows: first D_i = rowsum(dO_i∘O_i), written for attn_bwd_dkv
//                 (summed in attn_delta's order, attention_rows.wgsl: the same bits), then for
//                 every key j, dQ += scale·dS·K_j. The host runs it before attn_bwd_dkv.
//
// Same scheme as attn_fwd (attention.wgsl, which documents it): one subgroup per workgroup, the
// other side's rows go by in blocks of SG, one row per lane, shared by subgroupBroadcast. Per
// block lane c loads row c of the block and the unrolled body handles the block's row C, unless
// C is past the end (a uniform test: at 65 tokens the last block holds one row of 8, and lavapipe
// then skips part of the rest: scripts/ab-attention.ts, 32x4x65x65x32, dQ 16.7 → 15.6 ms, dK/dV
// 18.9 → 18.4; the rows skipped added only zeros, so the bits stay). Scores
// are in base 2 (the owned side is pre-multiplied by scale·log2 e; lse is turned to base 2).
// Bindings: 0 Params · 1 Q · 2 K · 3 V · 4 keyMask (u32) (attention_common.wgsl) · 5 dO · 6 lse
// · 7 D (read; attn_bwd_dq: written) · 8 dK or dQ (rw) · 9 dV (rw; attn_bwd_dq: O, read, at the
// layout p.o). Where dK and dV share a buffer (a fused dQKV), SHARED_KV puts dV through binding 8
// too: two writable bindings of one buffer may not alias.
enable subgroups;

//#include attention_common

const SG: u32 = 8u;
const R: u32 = 2u;     // rows per lane
const HD: u32 = 64u;    // a multiple of 4; rows are held as vec4s (attention_common.wgsl)
const HD4: u32 = HD / 4u;
const SHARED_KV: u32 = 4u;
const LOG2E: f32 = 1.4426950408889634;

@group(0) @binding(5) var<storage, read> dO: array<f32>;
@group(0) @binding(6) var<storage, read> lse: array<f32>;
@group(0) @binding(7) var<storage, read> delta: array<f32>;
@group(0) @binding(8) var<storage, read_write> gradA: array<f32>;  // dK (attn_bwd_dkv) or dQ (attn_bwd_dq)
@group(0) @binding(9) var<storage, read_write> gradB: array<f32>;  // dV (attn_bwd_dkv, unless SHARED_KV)
// attn_bwd_dq's view of bindings 7 and 9 (an entry point uses one variable of a binding).
@group(0) @binding(7) var<storage, read_write> deltaOut: array<f32>;
@group(0) @binding(9) var<storage, read> O: array<f32>;

fn loadDO(a: u32) -> vec4f { return inF16x4(vec4f(dO[a], dO[a + 1u], dO[a + 2u], dO[a + 3u])); }

// Two functions, not one with a flag: attn_bwd_dq has no binding 9 and must not touch gradB.
fn storeA(a: u32, x: vec4f) { gradA[a] = x.x; gradA[a + 1u] = x.y; gradA[a + 2u] = x.z; gradA[a + 3u] = x.w; }
fn storeB(a: u32, x: vec4f) { gradB[a] = x.x; gradB[a + 1u] = x.y; gradB[a + 2u] = x.z; gradB[a + 3u] = x.w; }

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
      k[r][d] = loadK(kb + j * p.k.w + 4u * d) * p.scale2;
      v[r][d] = loadV(vb + j * p.v.w + 4u * d);
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
      qr[d] = loadQ(qb + il * p.q.w + 4u * d);
      gr[d] = loadDO(gb + il * p.dout.w + 4u * d);
    }
    let myLse = lse[wg.y * p.Lq + il] * LOG2E;
    let myD = delta[wg.y * p.Lq + il];
    //#unroll C SG
    if (i0 + C < p.Lq) {
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
      storeA(dkb + j * p.dk.w + 4u * d, dk[r][d] * scale);
      if (sharedKV) { storeA(dvb + j * p.dv.w + 4u * d, dv[r][d]); } else { storeB(dvb + j * p.dv.w + 4u * d, dv[r][d]); }
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
  let ob = base(p.o, b, h);
  for (var r = 0u; r < R; r++) {
    let i = min(q0 + r * SG + lane, p.Lq - 1u);
    for (var d = 0u; d < HD4; d++) {
      q[r][d] = loadQ(qb + i * p.q.w + 4u * d) * p.scale2;
      g[r][d] = loadDO(gb + i * p.dout.w + 4u * d);
    }
    lr[r] = lse[wg.y * p.Lq + i] * LOG2E;
    // D_i = Σ_d O·dO one element after another, as attn_delta sums it.
    var di = 0.0;
    for (var d = 0u; d < HD4; d++) {
      for (var e = 0u; e < 4u; e++) { di = fma(O[ob + i * p.o.w + 4u * d + e], g[r][d][e], di); }
    }
    dl[r] = di;
    if (q0 + r * SG + lane < p.Lq) { deltaOut[wg.y * p.Lq + i] = di; }
  }
  let kEnd = keyEnd(q0 + SG * R);
  for (var j0 = 0u; j0 < kEnd; j0 += SG) {
    let jl = min(j0 + lane, p.Lk - 1u);
    var kr: array<vec4f, HD4>;
    var vr: array<vec4f, HD4>;
    for (var d = 0u; d < HD4; d++) {
      kr[d] = loadK(kb + jl * p.k.w + 4u * d);
      vr[d] = loadV(vb + jl * p.v.w + 4u * d);
    }
    //#unroll C SG
    if (j0 + C < p.Lk) {
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
    for (var d = 0u; d < HD4; d++) { storeA(dqb + i * p.dq.w + 4u * d, dq[r][d] * scale); }
  }
}
