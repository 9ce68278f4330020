// attention.wgsl — fused multi-head attention forward, flash-attention-2 style (the backward is
// attention_bwd.wgsl; the unfused path's row kernels are attention_rows.wgsl).
//
//   attn_fwd    O = softmax(scale·Q·Kᵀ + mask)·V and lse = log Σ exp(scores) per query row,
//               online softmax over key blocks: the Lq×Lk matrix never exists.
//
// One workgroup is one subgroup (SG lanes) and owns SG·R query rows of one (batch, head); lane
// `lane` owns rows q0 + r·SG + lane (r < R) with their HD-wide Q rows and O accumulators in
// registers. Keys go by in blocks of SG: lane c loads key row j0 + c, and subgroupBroadcast
// hands it to the other lanes, so each loaded K or V value feeds SG·R FMAs. On a software
// adapter every per-lane load is a gather and workgroup memory is no cheaper
// (research/perf-ceilings.md), so loads per FMA is what counts. R is the host's choice (kernels/
// attention.ts): the lane's Q and O arrays must stay under ~256 floats or lavapipe spills them.
//
// Scores are kept in base 2: Q is pre-multiplied by scale·log2(e), so exp2 does the softmax;
// lse is stored in natural-log units. Masked scores are NEG and their weights forced to 0 by
// select (not by exp underflow), so a row that sees no key gets weight 0 everywhere: O = 0 and
// lse = −∞, never NaN. Loop bounds depend only on the workgroup id and uniforms, so every lane
// reaches every broadcast.
//
// Tensors are strided (attention_common.wgsl), so Q/K/V can be read straight out of a fused
// projection. Bindings: 0 Params · 1 Q · 2 K · 3 V · 4 keyMask (u32 [B, Lk]) · 5 O (rw) · 6 lse
// (rw, [B,H,Lq]); with APPEND (a decode step's KV-cache append), 2 is the K|V cache (rw) and 3
// the new rows (attention_common.wgsl).
enable subgroups;

//#include attention_common

const SG: u32 = 8u;    // the adapter's fixed subgroup size
const R: u32 = 4u;     // query rows per lane
const HD: u32 = 64u;   // head dim, a multiple of 4
const HD4: u32 = HD / 4u;
const NEG: f32 = -1.0e30;

@group(0) @binding(5) var<storage, read_write> O: array<f32>;
@group(0) @binding(6) var<storage, read_write> lse: array<f32>;

// The SG·R query rows q0 + r·SG + lane of (batch b, head h) attended over every key: each row's
// unnormalised output (acc), running max (m, base 2) and sum of weights (l).
struct Attended {
  acc: array<array<vec4f, HD4>, R>,
  m: array<f32, R>,
  l: array<f32, R>,
}

fn attend(b: u32, h: u32, q0: u32, lane: u32) -> Attended {
  let qb = base(p.q, b, h);
  let kb = base(p.k, b, h);
  let vb = base(p.v, b, h);
  var q: array<array<vec4f, HD4>, R>;
  var acc: array<array<vec4f, HD4>, R>;
  var m: array<f32, R>;
  var l: array<f32, R>;
  for (var r = 0u; r < R; r++) {
    // Rows past Lq are clamped (in-bounds loads), computed, and not stored.
    let i = min(q0 + r * SG + lane, p.Lq - 1u);
    for (var d = 0u; d < HD4; d++) { q[r][d] = loadQ(qb + i * p.q.w + 4u * d) * p.scale2; }
    m[r] = NEG;
  }
  let kEnd = keyEnd(q0 + SG * R);
  for (var j0 = 0u; j0 < kEnd; j0 += SG) {
    let jl = min(j0 + lane, p.Lk - 1u);
    var kv: array<vec4f, HD4>;
    for (var d = 0u; d < HD4; d++) { kv[d] = loadK(kb + jl * p.k.w + 4u * d); }
    // Zeroed by hand: lavapipe was seen to keep the previous block's values in a declared-only var.
    var s: array<array<f32, SG>, R>;
    for (var r = 0u; r < R; r++) { for (var c = 0u; c < SG; c++) { s[r][c] = 0.0; } }
    //#unroll C SG
    for (var d = 0u; d < HD4; d++) {
      let x = subgroupBroadcast(kv[d], C);
      for (var r = 0u; r < R; r++) { s[r][C] += dot(q[r][d], x); }
    }
    //#end
    for (var r = 0u; r < R; r++) {
      let i = q0 + r * SG + lane;
      var mx = m[r];
      for (var c = 0u; c < SG; c++) {
        if (!attends(b, i, j0 + c)) { s[r][c] = NEG; }
        mx = max(mx, s[r][c]);
      }
      let corr = exp2(m[r] - mx);
      var sum = 0.0;
      for (var c = 0u; c < SG; c++) {
        s[r][c] = select(0.0, exp2(s[r][c] - mx), s[r][c] > 0.5 * NEG);
        sum += s[r][c];
      }
      l[r] = l[r] * corr + sum;
      m[r] = mx;
      for (var d = 0u; d < HD4; d++) { acc[r][d] *= corr; }
    }
    for (var d = 0u; d < HD4; d++) { kv[d] = loadV(vb + jl * p.v.w + 4u * d); }
    //#unroll C SG
    for (var d = 0u; d < HD4; d++) {
      let x = subgroupBroadcast(kv[d], C);
      for (var r = 0u; r < R; r++) { acc[r][d] = fma(vec4f(s[r][C]), x, acc[r][d]); }
    }
    //#end
  }
  return Attended(acc, m, l);
}

// 1/l, or 0 for a row that saw no key (O = 0).
fn norm(l: f32) -> f32 { return select(0.0, 1.0 / l, l > 0.0); }

@compute @workgroup_size(SG, 1, 1)
fn attn_fwd(@builtin(workgroup_id) wg: vec3u, @builtin(subgroup_invocation_id) lane: u32) {
  let b = wg.y / p.H;
  let h = wg.y % p.H;
  //#if APPEND
  appendRows(b, h, lane, SG, HD);
  //#end
  let q0 = wg.x * SG * R;
  let a = attend(b, h, q0, lane);
  let ob = base(p.o, b, h);
  for (var r = 0u; r < R; r++) {
    let i = q0 + r * SG + lane;
    if (i >= p.Lq) { continue; }
    let inv = norm(a.l[r]);
    for (var d = 0u; d < HD4; d++) {
      let x = a.acc[r][d] * inv;
      let o = ob + i * p.o.w + 4u * d;
      O[o] = x.x; O[o + 1u] = x.y; O[o + 2u] = x.z; O[o + 3u] = x.w;
    }
    // −∞ for a row that sees no key, built at run time: a constant −∞ is a compile error in WGSL,
    // and the flags' top bit (always 0) keeps the compiler from folding the bits into one.
    lse[wg.y * p.Lq + i] = select(bitcast<f32>(0xff800000u | (p.flags & 0x80000000u)), (a.m[r] + log2(a.l[r])) * LN2, a.l[r] > 0.0);
  }
}

// attn_fwd_proj (PROJ): a decoding step's attention and its output projection in one dispatch,
//   y = O·Wᵀ + bias (+ residual), O the attention output of one query row (Lq = 1, R = 1),
// one workgroup a batch row walking its NH heads (with APPEND each head's new key and value rows
// first, as attn_fwd). O is attn_fwd's (lane 0's row: the others are clamped copies that attend
// nothing, broadcast from it), and each y the skinny product's: its sum over k in k order by fma,
// then bias and residual. On a software adapter the dispatch saved (~0.1 ms) is more than the
// row's arithmetic. Bindings 5-8 replace attn_fwd's O and lse: W [NOUT, NH·HD] as vec4s, bias,
// residual [B, NOUT] (gpu.unused without), y [B, NOUT] (rw); their offsets ride in p.o (unused
// here): W, bias, residual, y.
const PROJ: bool = false;
//#if PROJ
const NH: u32 = 4u;
const NOUT: u32 = 128u;
const RESIDUAL: u32 = 16u;

@group(0) @binding(5) var<storage, read> projW: array<vec4f>;
@group(0) @binding(6) var<storage, read> projBias: array<f32>;
@group(0) @binding(7) var<storage, read> projRes: array<f32>;
@group(0) @binding(8) var<storage, read_write> projY: array<f32>;

@compute @workgroup_size(SG, 1, 1)
fn attn_fwd_proj(@builtin(workgroup_id) wg: vec3u, @builtin(subgroup_invocation_id) lane: u32) {
  let b = wg.y;
  var o: array<vec4f, NH * HD4>;
  for (var h = 0u; h < NH; h++) {
    //#if APPEND
    appendRows(b, h, lane, SG, HD);
    //#end
    let a = attend(b, h, 0u, lane);
    let inv = norm(a.l[0]);
    for (var d = 0u; d < HD4; d++) { o[h * HD4 + d] = subgroupBroadcast(a.acc[0][d] * inv, 0u); }
  }
  for (var n = lane; n < NOUT; n += SG) {
    let w0 = p.o.x / 4u + n * NH * HD4;
    var acc = 0.0;
    for (var k4 = 0u; k4 < NH * HD4; k4++) {
      let w = projW[w0 + k4];
      let x = o[k4];
      acc = fma(x.w, w.w, fma(x.z, w.z, fma(x.y, w.y, fma(x.x, w.x, acc))));
    }
    var y = acc + projBias[p.o.y + n];
    if ((p.flags & RESIDUAL) != 0u) { y += projRes[p.o.z + b * NOUT + n]; }
    projY[p.o.w + b * NOUT + n] = y;
  }
}
//#end
