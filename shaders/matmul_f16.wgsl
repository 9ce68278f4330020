enable f16;
// matmul_f16.wgsl — the products of mixed-precision training (`coca train --precision f16`):
// C (f32) = alpha·op(A)·op(B) (+ bias) (+ C), every product taken of f16 values, accumulated in f32.
// A and B are each stored as f16 (A_F16, B_F16: a weight's f16 copy, half the bytes to read) or
// as f32 and rounded to f16 as they are loaded (an activation or a gradient); either way the
// answer is that of the f16-rounded operands, so a float64 reference of the rounded inputs checks
// it tightly (kernels/matmul-f16.ts, test/kernels/matmul-f16.test.ts).
//
// The products of two f16 values are exact in f32 (11 + 11 significant bits ≤ 24), so the f32 FMA
// accumulates what a tensor core would; the kernel does not round products to f16.
//
// Rounding to f16 is explicit about overflow (toHalf): a value past f16's range becomes ±Inf and
// NaN stays NaN. WGSL leaves an out-of-range f32 → f16 conversion indeterminate, and dynamic loss
// scaling relies on an overflow becoming Inf (then NaN/Inf in the gradients, which the step's
// NaN/Inf flag sees and skips).
//
// Entry points (kernels/matmul-f16.ts picks one by adapter):
//   matmul_f16_tiled     64x64 output tile per workgroup of 256, K in slices of 16 held as f16 in
//                        workgroup memory (half the bytes of the f32 tiles of matmul_tiled),
//                        4x4 outputs per invocation: what real GPUs without subgroup matrices want.
//   matmul_f16_regblock  8x8 outputs per invocation straight from storage, no workgroup memory:
//                        software adapters are bound by per-invocation loads (matmul.wgsl's v3).
//
// Params (the first 16 words of matmul_common.wgsl's, packed the same way) and the epilogue are
// matmul_common.wgsl's; its bindings are f32, so this file declares its own.
// Bindings: 0 Params · 1 A · 2 B · 3 bias (f32) · 4 C (f32, or f16 with C_F16; rw) ·
// 5 aux (f32; GELU_OUT rw / GELU_GRAD read)

struct Params {
  M: u32, N: u32, K: u32, flags: u32,
  lda: u32, ldb: u32, ldc: u32, alpha: f32,
  offA: u32, offB: u32, offC: u32, offBias: u32,
  strideA: u32, strideB: u32, strideC: u32, offAux: u32,
}

const TRANS_A: bool = false;
const TRANS_B: bool = false;
const A_F16: bool = false;
const B_F16: bool = false;
const C_F16: bool = false;
const GELU_OUT: bool = false;
const GELU_GRAD: bool = false;

const HAS_BIAS: u32 = 1u;
const ACCUMULATE: u32 = 2u;

@group(0) @binding(0) var<uniform> p: Params;
//#if A_F16
@group(0) @binding(1) var<storage, read> A: array<f16>;
//#else
@group(0) @binding(1) var<storage, read> A: array<f32>;
//#end
//#if B_F16
@group(0) @binding(2) var<storage, read> B: array<f16>;
//#else
@group(0) @binding(2) var<storage, read> B: array<f32>;
//#end
@group(0) @binding(3) var<storage, read> bias: array<f32>;
//#if C_F16
@group(0) @binding(4) var<storage, read_write> C: array<f16>;
//#else
@group(0) @binding(4) var<storage, read_write> C: array<f32>;
//#end
//#include gelu_epilogue

// x rounded to f16 (to nearest even), ±Inf past the largest finite f16 (65504; values from 65520
// up round there), NaN kept. Bit tests, because WGSL lets compilers assume x == x.
fn toHalf(x: f32) -> f16 {
  let bits = bitcast<u32>(x);
  let inf = bitcast<vec2<f16>>(0x7c00u | ((bits >> 16u) & 0x8000u)).x;
  if ((bits & 0x7f800000u) == 0x7f800000u) {
    // NaN: a quiet f16 NaN of the sign (built from `bits` at run time: a constant NaN does not
    // compile); Inf: Inf of the sign.
    if ((bits & 0x007fffffu) != 0u) { return bitcast<vec2<f16>>(0x7e00u | ((bits >> 16u) & 0x8000u)).x; }
    return inf;
  }
  if (abs(x) >= 65520.0) { return inf; }
  return f16(x);
}

// Element (m, k) of op(A) in the batch whose A starts at a0, as f16.
fn loadA(a0: u32, m: u32, k: u32) -> f16 {
  var i = a0 + m * p.lda + k;
  if (TRANS_A) { i = a0 + k * p.lda + m; }
  //#if A_F16
  return A[i];
  //#else
  return toHalf(A[i]);
  //#end
}

// Element (k, n) of op(B) in the batch whose B starts at b0, as f16.
fn loadB(b0: u32, k: u32, n: u32) -> f16 {
  var i = b0 + k * p.ldb + n;
  if (TRANS_B) { i = b0 + n * p.ldb + k; }
  //#if B_F16
  return B[i];
  //#else
  return toHalf(B[i]);
  //#end
}

// matmul_common.wgsl's epilogue, in f32; with C_F16 the result is stored rounded to f16 (an
// activation the next product would round as it loads it anyway: half the bytes, same answer).
fn store(c0: u32, m: u32, n: u32, acc: f32) {
  var v = p.alpha * acc;
  if ((p.flags & HAS_BIAS) != 0u) { v += bias[p.offBias + n]; }
  let i = c0 + m * p.ldc + n;
  v = gelu_epilogue(v, i);
  // Read C only when accumulating: a fresh output may hold anything, NaN included.
  //#if C_F16
  if ((p.flags & ACCUMULATE) != 0u) { v += f32(C[i]); }
  C[i] = toHalf(v);
  //#else
  if ((p.flags & ACCUMULATE) != 0u) { v += C[i]; }
  C[i] = v;
  //#end
}

// ---- tiled: f16 tiles in workgroup memory -------------------------------------------------------
const BM: u32 = 64u;
const BN: u32 = 64u;
const BK: u32 = 16u;
var<workgroup> As: array<f16, 1024>; // BK x BM, As[k·BM + m]
var<workgroup> Bs: array<f16, 1024>; // BK x BN, Bs[k·BN + n]

@compute @workgroup_size(16, 16, 1)
fn matmul_f16_tiled(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let tid = lid.y * 16u + lid.x;
  let m0 = wg.y * BM;
  let n0 = wg.x * BN;
  let a0 = p.offA + wg.z * p.strideA;
  let b0 = p.offB + wg.z * p.strideB;
  var acc: array<array<f32, 4>, 4>;
  for (var kt = 0u; kt < p.K; kt += BK) {
    for (var i = 0u; i < 4u; i++) {
      // Walk the stored rows so that neighbouring invocations read neighbouring addresses.
      let e = tid + i * 256u;
      var m = e / BK;
      var k = e % BK;
      if (TRANS_A) { k = e / BM; m = e % BM; }
      var va = f16(0.0);
      if (m0 + m < p.M && kt + k < p.K) { va = loadA(a0, m0 + m, kt + k); }
      As[k * BM + m] = va;
      var kb = e / BN;
      var n = e % BN;
      if (TRANS_B) { n = e / BK; kb = e % BK; }
      var vb = f16(0.0);
      if (n0 + n < p.N && kt + kb < p.K) { vb = loadB(b0, kt + kb, n0 + n); }
      Bs[kb * BN + n] = vb;
    }
    workgroupBarrier();
    for (var k = 0u; k < BK; k++) {
      var a: array<f32, 4>;
      var bv: array<f32, 4>;
      for (var i = 0u; i < 4u; i++) { a[i] = f32(As[k * BM + lid.y + 16u * i]); }
      for (var j = 0u; j < 4u; j++) { bv[j] = f32(Bs[k * BN + lid.x + 16u * j]); }
      for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) { acc[i][j] = fma(a[i], bv[j], acc[i][j]); }
      }
    }
    workgroupBarrier();
  }
  let c0 = p.offC + wg.z * p.strideC;
  for (var i = 0u; i < 4u; i++) {
    for (var j = 0u; j < 4u; j++) {
      let m = m0 + lid.y + 16u * i;
      let n = n0 + lid.x + 16u * j;
      if (m < p.M && n < p.N) { store(c0, m, n, acc[i][j]); }
    }
  }
}

// ---- register-blocked, straight from storage ----------------------------------------------------
const TM: u32 = 8u;
const TN: u32 = 8u;

@compute @workgroup_size(8, 8, 1)
fn matmul_f16_regblock(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let mBase = (wg.y * 8u + lid.y) * TM;
  let nBase = (wg.x * 8u + lid.x) * TN;
  let a0 = p.offA + wg.z * p.strideA;
  let b0 = p.offB + wg.z * p.strideB;
  var acc: array<array<f32, TN>, TM>;
  for (var k = 0u; k < p.K; k++) {
    // Clamped, not branched on: the loads stay in bounds and the extra results are not stored.
    var a: array<f32, TM>;
    var bv: array<f32, TN>;
    for (var i = 0u; i < TM; i++) { a[i] = f32(loadA(a0, min(mBase + i, p.M - 1u), k)); }
    for (var j = 0u; j < TN; j++) { bv[j] = f32(loadB(b0, k, min(nBase + j, p.N - 1u))); }
    for (var i = 0u; i < TM; i++) {
      for (var j = 0u; j < TN; j++) { acc[i][j] = fma(a[i], bv[j], acc[i][j]); }
    }
  }
  let c0 = p.offC + wg.z * p.strideC;
  for (var i = 0u; i < TM; i++) {
    for (var j = 0u; j < TN; j++) {
      if (mBase + i < p.M && nBase + j < p.N) { store(c0, mBase + i, nBase + j, acc[i][j]); }
    }
  }
}

// ---- cast: f32 → f16 (a weight's f16 copy) -------------------------------------------------------
// Bindings: 0 Params (n = M, offset = offA into src, offset = offC into dst) · 1 src (f32) ·
// 2 dst (f16, rw). Two elements per invocation, invocations numbered across a 2-D grid.
@group(0) @binding(1) var<storage, read> castSrc: array<f32>;
@group(0) @binding(2) var<storage, read_write> castDst: array<f16>;

@compute @workgroup_size(64, 1, 1)
fn cast_f16(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let k = 2u * ((wg.y * nwg.x + wg.x) * 64u + lid);
  for (var i = k; i < min(k + 2u, p.M); i++) { castDst[p.offC + i] = toHalf(castSrc[p.offA + i]); }
}
