// attention_dims_bwd.wgsl — the fused attention backward with the head dim spread over the lanes
// (the layout of attention_dims.wgsl; the scheme and the formulas are attention_bwd.wgsl's):
//
//   attn_bwd_dkv_dims  a workgroup owns R key rows: for every query i, p = exp(s − lse_i),
//                      dV_j += p·dO_i, dS = p·(dO_i·V_j − D_i), dK_j += scale·dS·Q_i
//   attn_bwd_dq_dims   a workgroup owns R query rows: for every key j, dQ_i += scale·dS·K_j
//
// Lane `lane` holds dims d·SG + lane of every owned row; scores and dO·V are subgroupAdds of the
// lanes' partial dot products. D = rowsum(dO∘O) is summed by attn_bwd_dq_dims (every lane the
// whole row, in attn_delta's order: the same bits), which writes it for attn_bwd_dkv_dims, run
// after it. No atomics:
// each output element is written by one lane of one workgroup, so the result is the same bits on
// every run. Bindings as attention_bwd.wgsl: 0 Params · 1 Q · 2 K · 3 V · 4 keyMask · 5 dO · 6 lse
// · 7 D (attn_bwd_dq_dims: written) · 8 dK or dQ (rw) · 9 dV (rw; SHARED_KV puts dV through
// binding 8; attn_bwd_dq_dims: O, read, at the layout p.o).
enable subgroups;

//#include attention_common

const SG: u32 = 8u;
const R: u32 = 2u;    // owned rows per workgroup (query rows for dQ, key rows for dK/dV)
const HD: u32 = 128u;
const DL: u32 = HD / SG;
const SHARED_KV: u32 = 4u;
const LOG2E: f32 = 1.4426950408889634;

@group(0) @binding(5) var<storage, read> dO: array<f32>;
@group(0) @binding(6) var<storage, read> lse: array<f32>;
@group(0) @binding(7) var<storage, read> delta: array<f32>;
@group(0) @binding(8) var<storage, read_write> gradA: array<f32>;
@group(0) @binding(9) var<storage, read_write> gradB: array<f32>;
// attn_bwd_dq_dims's view of bindings 7 and 9 (an entry point uses one variable of a binding).
@group(0) @binding(7) var<storage, read_write> deltaOut: array<f32>;
@group(0) @binding(9) var<storage, read> O: array<f32>;

@compute @workgroup_size(SG, 1, 1)
fn attn_bwd_dkv_dims(@builtin(workgroup_id) wg: vec3u, @builtin(subgroup_invocation_id) lane: u32) {
  let b = wg.y / p.H;
  let h = wg.y % p.H;
  let k0 = wg.x * R;
  let kb = base(p.k, b, h);
  let vb = base(p.v, b, h);
  let qb = base(p.q, b, h);
  let gb = base(p.dout, b, h);
  var k: array<array<f32, DL>, R>;
  var v: array<array<f32, DL>, R>;
  var dk: array<array<f32, DL>, R>;
  var dv: array<array<f32, DL>, R>;
  for (var r = 0u; r < R; r++) {
    let j = min(k0 + r, p.Lk - 1u);
    for (var d = 0u; d < DL; d++) {
      k[r][d] = inF16(K[kb + j * p.k.w + d * SG + lane]) * p.scale2;
      v[r][d] = inF16(V[vb + j * p.v.w + d * SG + lane]);
      dk[r][d] = 0.0;
      dv[r][d] = 0.0;
    }
  }
  // Causal: queries before k0 − causalOff see none of these keys.
  var iStart = 0u;
  if ((p.flags & CAUSAL) != 0u) { iStart = u32(clamp(i32(k0) - p.causalOff, 0, i32(p.Lq))); }
  for (var i = iStart; i < p.Lq; i++) {
    var qr: array<f32, DL>;
    var gr: array<f32, DL>;
    for (var d = 0u; d < DL; d++) {
      qr[d] = inF16(Q[qb + i * p.q.w + d * SG + lane]);
      gr[d] = inF16(dO[gb + i * p.dout.w + d * SG + lane]);
    }
    let li = lse[wg.y * p.Lq + i] * LOG2E;
    let di = delta[wg.y * p.Lq + i];
    for (var r = 0u; r < R; r++) {
      var ps = 0.0;
      var pd = 0.0;
      for (var d = 0u; d < DL; d++) {
        ps = fma(k[r][d], qr[d], ps);
        pd = fma(v[r][d], gr[d], pd);
      }
      let s = subgroupAdd(ps);
      let dp = subgroupAdd(pd);
      // Masked pairs contribute 0 by select, not a branch (uniform control flow for subgroupAdd).
      let pr = select(0.0, exp2(s - li), attends(b, i, k0 + r));
      let ds = pr * (dp - di);
      for (var d = 0u; d < DL; d++) {
        dv[r][d] = fma(pr, gr[d], dv[r][d]);
        dk[r][d] = fma(ds, qr[d], dk[r][d]);
      }
    }
  }
  let scale = p.scale2 * LN2;
  let sharedKV = (p.flags & SHARED_KV) != 0u;
  let dkb = base(p.dk, b, h);
  let dvb = base(p.dv, b, h);
  for (var r = 0u; r < R; r++) {
    let j = k0 + r;
    if (j >= p.Lk) { continue; }
    for (var d = 0u; d < DL; d++) {
      gradA[dkb + j * p.dk.w + d * SG + lane] = dk[r][d] * scale;
      if (sharedKV) { gradA[dvb + j * p.dv.w + d * SG + lane] = dv[r][d]; } else { gradB[dvb + j * p.dv.w + d * SG + lane] = dv[r][d]; }
    }
  }
}

@compute @workgroup_size(SG, 1, 1)
fn attn_bwd_dq_dims(@builtin(workgroup_id) wg: vec3u, @builtin(subgroup_invocation_id) lane: u32) {
  let b = wg.y / p.H;
  let h = wg.y % p.H;
  let q0 = wg.x * R;
  let kb = base(p.k, b, h);
  let vb = base(p.v, b, h);
  let qb = base(p.q, b, h);
  let gb = base(p.dout, b, h);
  var q: array<array<f32, DL>, R>;
  var g: array<array<f32, DL>, R>;
  var dq: array<array<f32, DL>, R>;
  var lr: array<f32, R>;
  var dl: array<f32, R>;
  let ob = base(p.o, b, h);
  for (var r = 0u; r < R; r++) {
    let i = min(q0 + r, p.Lq - 1u);
    for (var d = 0u; d < DL; d++) {
      q[r][d] = inF16(Q[qb + i * p.q.w + d * SG + lane]) * p.scale2;
      g[r][d] = inF16(dO[gb + i * p.dout.w + d * SG + lane]);
      dq[r][d] = 0.0;
    }
    lr[r] = lse[wg.y * p.Lq + i] * LOG2E;
    // D_i = Σ_d O·dO one element after another, as attn_delta sums it (every lane alike).
    var di = 0.0;
    for (var d = 0u; d < HD; d++) { di = fma(O[ob + i * p.o.w + d], inF16(dO[gb + i * p.dout.w + d]), di); }
    dl[r] = di;
    if (lane == 0u && q0 + r < p.Lq) { deltaOut[wg.y * p.Lq + i] = di; }
  }
  let kEnd = keyEnd(q0 + R);
  for (var j = 0u; j < kEnd; j++) {
    var kr: array<f32, DL>;
    var vr: array<f32, DL>;
    for (var d = 0u; d < DL; d++) {
      kr[d] = inF16(K[kb + j * p.k.w + d * SG + lane]);
      vr[d] = inF16(V[vb + j * p.v.w + d * SG + lane]);
    }
    for (var r = 0u; r < R; r++) {
      var ps = 0.0;
      var pd = 0.0;
      for (var d = 0u; d < DL; d++) {
        ps = fma(q[r][d], kr[d], ps);
        pd = fma(g[r][d], vr[d], pd);
      }
      let s = subgroupAdd(ps);
      let dp = subgroupAdd(pd);
      let ds = select(0.0, exp2(s - lr[r]), attends(b, q0 + r, j)) * (dp - dl[r]);
      for (var d = 0u; d < DL; d++) { dq[r][d] = fma(ds, kr[d], dq[r][d]); }
    }
  }
  let scale = p.scale2 * LN2;
  let dqb = base(p.dq, b, h);
  for (var r = 0u; r < R; r++) {
    let i = q0 + r;
    if (i >= p.Lq) { continue; }
    for (var d = 0u; d < DL; d++) { gradA[dqb + i * p.dq.w + d * SG + lane] = dq[r][d] * scale; }
  }
}
