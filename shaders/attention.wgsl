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

// The SG·R query rows q0 + r·SG + lane of (batch b, head h), scaled by scale·log2(e).
fn loadRows(b: u32, h: u32, q0: u32, lane: u32) -> array<array<vec4f, HD4>, R> {
  let qb = base(p.q, b, h);
  var q: array<array<vec4f, HD4>, R>;
  for (var r = 0u; r < R; r++) {
    // Rows past Lq are clamped (in-bounds loads), computed, and not stored.
    let i = min(q0 + r * SG + lane, p.Lq - 1u);
    for (var d = 0u; d < HD4; d++) { q[r][d] = loadQ(qb + i * p.q.w + 4u * d) * p.scale2; }
  }
  return q;
}

// Those rows (q, from loadRows or as it would load them) attended over every key: each row's
// unnormalised output (acc), running max (m, base 2) and sum of weights (l).
struct Attended {
  acc: array<array<vec4f, HD4>, R>,
  m: array<f32, R>,
  l: array<f32, R>,
}

fn attend(b: u32, h: u32, q0: u32, lane: u32, q: array<array<vec4f, HD4>, R>) -> Attended {
  let kb = base(p.k, b, h);
  let vb = base(p.v, b, h);
  var acc: array<array<vec4f, HD4>, R>;
  var m: array<f32, R>;
  var l: array<f32, R>;
  for (var r = 0u; r < R; r++) { m[r] = NEG; }
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
  let a = attend(b, h, q0, lane, loadRows(b, h, q0, lane));
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

// INPROJ (inside PROJ): the query (and, with APPEND, the new key and value rows) come from the
// block's input row itself, in the same dispatch: x (binding 7, the residual) through its layernorm
// (γ, β: bindings 11, 12) and the in-projection (W_in [INCOLS, INK] as vec4s, bias: bindings 9,
// 10), as the skinny product with its layernorm prologue computes them: the row's statistics in
// row_stats' order (layernorm_row_alone.wgsl), the prologue's normalisation, each column summed
// over k in k order by fma, then its bias. Offsets of W_in, its bias, γ and β ride in p.dout, eps's
// bits in p.dq.x (both unused by a forward). Lane `lane` computes columns lane + SG·c; the new key
// and value rows go straight into the cache (row Lk − 1) before any head attends, and the query
// is handed to every lane by subgroupBroadcast.
const INPROJ: bool = false;
//#if INPROJ
const INK: u32 = 128u;     // the block's width: x's row, the in-projection's inputs
const INCOLS: u32 = 384u;  // the in-projection's outputs: q|k|v (with APPEND) or q; a multiple of SG
@group(0) @binding(9) var<storage, read> inW: array<vec4f>;
@group(0) @binding(10) var<storage, read> inBias: array<f32>;
@group(0) @binding(11) var<storage, read> lnGamma: array<f32>;
@group(0) @binding(12) var<storage, read> lnBeta: array<f32>;

//#include layernorm_row
fn ln_row_at(i: u32) -> f32 { return projRes[i]; }
//#include layernorm_row_alone

fn inProject(b: u32, lane: u32) -> array<f32, INCOLS / SG> {
  let row = p.o.z + b * INK;
  let st = ln_row_stats_alone(row, INK, bitcast<f32>(p.dq.x));
  var xn: array<vec4f, INK / 4u>;
  for (var k = 0u; k < INK; k++) {
    xn[k / 4u][k % 4u] = fma((projRes[row + k] - st.x) * st.y, lnGamma[p.dout.z + k], lnBeta[p.dout.w + k]);
  }
  var cols: array<f32, INCOLS / SG>;
  for (var c = 0u; c < INCOLS / SG; c++) {
    let n = lane + SG * c;
    let w0 = p.dout.x / 4u + n * (INK / 4u);
    var acc = 0.0;
    for (var k4 = 0u; k4 < INK / 4u; k4++) {
      let w = inW[w0 + k4];
      let x = xn[k4];
      acc = fma(x.w, w.w, fma(x.z, w.z, fma(x.y, w.y, fma(x.x, w.x, acc))));
    }
    cols[c] = acc + inBias[p.dout.y + n];
  }
  return cols;
}
//#end

@compute @workgroup_size(SG, 1, 1)
fn attn_fwd_proj(@builtin(workgroup_id) wg: vec3u, @builtin(subgroup_invocation_id) lane: u32) {
  let b = wg.y;
  //#if INPROJ
  let cols = inProject(b, lane);
  //#if APPEND
  // Columns E.. are the new key row, then the value row: into the cache's row Lk − 1.
  let E = NH * HD;
  for (var c = E / SG; c < INCOLS / SG; c++) {
    let n = lane + SG * c - E;
    let h = (n % E) / HD;
    let d = n % HD;
    if (n < E) { KV[base(p.k, b, h) + (p.Lk - 1u) * p.k.w + d] = cols[c]; }
    else { KV[base(p.v, b, h) + (p.Lk - 1u) * p.v.w + d] = cols[c]; }
  }
  storageBarrier();
  //#end
  // The query row in every lane (column n is lane n % SG's slot n / SG).
  var qrow: array<f32, NH * HD>;
  for (var c = 0u; c < NH * HD / SG; c++) {
    //#unroll L SG
    qrow[c * SG + L] = subgroupBroadcast(cols[c], L);
    //#end
  }
  //#end
  var o: array<vec4f, NH * HD4>;
  for (var h = 0u; h < NH; h++) {
    //#if INPROJ
    // As loadRows scales a loaded row.
    var q: array<array<vec4f, HD4>, R>;
    for (var d = 0u; d < HD4; d++) {
      let i = h * HD + 4u * d;
      q[0][d] = vec4f(qrow[i], qrow[i + 1u], qrow[i + 2u], qrow[i + 3u]) * p.scale2;
    }
    //#else
    //#if APPEND
    appendRows(b, h, lane, SG, HD);
    //#end
    let q = loadRows(b, h, 0u, lane);
    //#end
    let a = attend(b, h, 0u, lane, q);
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
