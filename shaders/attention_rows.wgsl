// attention_rows.wgsl — the row-wise and layout kernels around attention's products: the unfused
// path is pack → matmul (scale·Q·Kᵀ) → attn_softmax → matmul (P·V) → unpack, and its backward
// uses attn_softmax_bwd between the matmuls; both paths' backward starts with attn_delta.
//
//   attn_pack         dense[b,h,i,d] = X[strided (b,h,i,d)]       (matmul reads dense matrices)
//   attn_unpack       X[strided (b,h,i,d)] = dense[b,h,i,d]
//   attn_softmax      in place over rows of S [B·H·Lq, Lk]: masked softmax, lse per row
//   attn_softmax_bwd  in place: dS = P∘(dP − rowsum(P∘dP))
//   attn_delta        D[b,h,i] = Σ_d dO·O (strided O and dO)
//
// Every kernel binds 1 A (read) · 2 B2 (read) · 3 X (rw) [· 4 Y (rw)]; one that needs a single
// input binds it twice (two read-only bindings of a buffer may alias, a writable one may not).
// The key-padding mask is u32 [B, Lk] read through the f32 binding with bitcast, so the family
// needs one binding layout. Work is one invocation per element or per row, indexed over a 2-D
// grid of workgroups (a long sequence has more rows than 65535·64).
// A fully masked row gets P = 0 and lse = −∞, as in the fused kernel.

struct Params {
  B: u32, H: u32, L: u32, D: u32,   // L rows of D values per (b, h); softmax: rows Lq of width Lk
  Lk: u32, flags: u32, causalOff: i32, pad0: u32,
  strides: vec4u,                   // strided X / O: offset, batch, head, row strides
  dOStrides: vec4u,                 // strided dO
}

const CAUSAL: u32 = 1u;
const KEY_MASK: u32 = 2u;
// attn_pack and attn_delta under `--precision f16`: the inputs (Q, K, V, dO) rounded to f16 as
// they are read, as the fused kernels do (attention_common.wgsl).
const F16_IN: u32 = 8u;

//#include f16_round

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> B2: array<f32>;
@group(0) @binding(3) var<storage, read_write> X: array<f32>;
@group(0) @binding(4) var<storage, read_write> Y: array<f32>;

fn flatIndex(wg: vec3u, nwg: vec3u, lid: u32) -> u32 { return (wg.y * nwg.x + wg.x) * 64u + lid; }

fn strided(l: vec4u, e: u32) -> u32 {
  let d = e % p.D;
  let i = (e / p.D) % p.L;
  let bh = e / (p.D * p.L);
  return l.x + (bh / p.H) * l.y + (bh % p.H) * l.z + i * l.w + d;
}

@compute @workgroup_size(64, 1, 1)
fn attn_pack(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let e = flatIndex(wg, nwg, li);
  if (e >= p.B * p.H * p.L * p.D) { return; }
  let x = A[strided(p.strides, e)];
  X[e] = select(x, round_f16(x), (p.flags & F16_IN) != 0u);
}

@compute @workgroup_size(64, 1, 1)
fn attn_unpack(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let e = flatIndex(wg, nwg, li);
  if (e >= p.B * p.H * p.L * p.D) { return; }
  X[strided(p.strides, e)] = A[e];
}

fn attends(b: u32, i: u32, j: u32) -> bool {
  if ((p.flags & KEY_MASK) != 0u && bitcast<u32>(A[b * p.Lk + j]) == 0u) { return false; }
  if ((p.flags & CAUSAL) != 0u && i32(j) > i32(i) + p.causalOff) { return false; }
  return true;
}

@compute @workgroup_size(64, 1, 1)
fn attn_softmax(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let row = flatIndex(wg, nwg, li);
  if (row >= p.B * p.H * p.L) { return; }
  let i = row % p.L;
  let b = row / (p.L * p.H);
  let s0 = row * p.Lk;
  var mx = -3.0e38;
  var any = false;
  for (var j = 0u; j < p.Lk; j++) {
    if (attends(b, i, j)) { mx = max(mx, X[s0 + j]); any = true; }
  }
  var sum = 0.0;
  for (var j = 0u; j < p.Lk; j++) {
    let e = select(0.0, exp(X[s0 + j] - mx), attends(b, i, j));
    X[s0 + j] = e;
    sum += e;
  }
  let inv = select(0.0, 1.0 / sum, any);
  for (var j = 0u; j < p.Lk; j++) { X[s0 + j] *= inv; }
  // −∞ for a row that sees no key, built at run time: a constant −∞ is a compile error in WGSL,
  // and the flags' top bit (always 0) keeps the compiler from folding the bits into one.
  Y[row] = select(bitcast<f32>(0xff800000u | (p.flags & 0x80000000u)), mx + log(sum), any);
}

@compute @workgroup_size(64, 1, 1)
fn attn_softmax_bwd(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let row = flatIndex(wg, nwg, li);
  if (row >= p.B * p.H * p.L) { return; }
  let s0 = row * p.Lk;
  var c = 0.0;
  for (var j = 0u; j < p.Lk; j++) { c = fma(A[s0 + j], X[s0 + j], c); }
  for (var j = 0u; j < p.Lk; j++) { X[s0 + j] = A[s0 + j] * (X[s0 + j] - c); }
}

@compute @workgroup_size(64, 1, 1)
fn attn_delta(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let row = flatIndex(wg, nwg, li);
  if (row >= p.B * p.H * p.L) { return; }
  let o = strided(p.strides, row * p.D);
  let g = strided(p.dOStrides, row * p.D);
  var s = 0.0;
  let f16in = (p.flags & F16_IN) != 0u;
  for (var d = 0u; d < p.D; d++) { s = fma(A[o + d], select(B2[g + d], round_f16(B2[g + d]), f16in), s); }
  X[row] = s;
}
