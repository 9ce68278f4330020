// matmul.wgsl — C = alpha·op(A)·op(B) (+ bias[n]) (+ C), row-major float32, batched.
//
// Entry points, one per variant (kernels/matmul.ts picks one by adapter and shape):
//   matmul_naive     v1: one output per invocation, 16x16 workgroups. The readable one.
//   matmul_tiled     v2: 64x64 output tile per workgroup staged through workgroup memory in
//                        BK=16 slices, 4x4 outputs per invocation. What real GPUs want.
//   matmul_regblock  v3: TMxTN outputs per invocation straight from storage, no workgroup
//                        memory. On a software adapter each invocation's load is a gather and
//                        workgroup memory is no cheaper, so FMAs per load is what counts.
//   matmul_skinny    v5: few rows (M ≤ 8: one decoding step per image or beam): MR rows × SN
//                        columns per invocation, MR sized to M by the host, so no lane loads
//                        rows that do not exist. The others tile M by 8–128 and at M = 1 spend
//                        nearly all their loads and FMAs on clamped rows. With LN, op(A) is
//                        the layernorm of A's rows (γ, β at bindings 6, 7; A not transposed):
//                        a decoding step's pre-norm linears without a layernorm dispatch.
// (v4, the subgroup variant, is in matmul_subgroups.wgsl: it needs `enable subgroups`.)
//
// Bindings, Params and element access: matmul_common.wgsl (included below).

//#include matmul_common
//#include layernorm_row

const TM: u32 = 8u;
const TN: u32 = 8u;
const SG_A: bool = false;  // matmul_skinny.wgsl's subgroup path is matmul_skinny_sg.wgsl's

// ---- v1 naive ---------------------------------------------------------------------------------
@compute @workgroup_size(16, 16, 1)
fn matmul_naive(@builtin(global_invocation_id) gid: vec3u) {
  let n = gid.x;
  let m = gid.y;
  let b = gid.z;
  if (m >= p.M || n >= p.N) { return; }
  let a0 = p.offA + b * p.strideA;
  let b0 = p.offB + b * p.strideB;
  var acc = 0.0;
  for (var k = 0u; k < p.K; k++) {
    acc = fma(loadA(a0, m, k), loadB(b0, k, n), acc);
  }
  store(p.offC + b * p.strideC, m, n, acc);
}

// ---- v2 tiled (workgroup memory) ----------------------------------------------------------------
const BM: u32 = 64u;
const BN: u32 = 64u;
const BK: u32 = 16u;
var<workgroup> As: array<f32, 1024>; // BK x BM, As[k·BM + m]
var<workgroup> Bs: array<f32, 1024>; // BK x BN, Bs[k·BN + n]

@compute @workgroup_size(16, 16, 1)
fn matmul_tiled(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let tid = lid.y * 16u + lid.x;
  let m0 = wg.y * BM;
  let n0 = wg.x * BN;
  let a0 = p.offA + wg.z * p.strideA;
  let b0 = p.offB + wg.z * p.strideB;
  // Invocation (x, y) owns rows y + 16i and columns x + 16j: neighbours read neighbouring
  // words of the tiles.
  var acc: array<array<f32, 4>, 4>;
  for (var kt = 0u; kt < p.K; kt += BK) {
    for (var i = 0u; i < 4u; i++) {
      // Each tile is 1024 elements, 4 per invocation, walked along the stored rows so that
      // neighbouring invocations read neighbouring addresses.
      let e = tid + i * 256u;
      var m = e / BK;
      var k = e % BK;
      if (TRANS_A) { k = e / BM; m = e % BM; }
      var va = 0.0;
      if (m0 + m < p.M && kt + k < p.K) { va = loadA(a0, m0 + m, kt + k); }
      As[k * BM + m] = va;
      var kb = e / BN;
      var n = e % BN;
      if (TRANS_B) { n = e / BK; kb = e % BK; }
      var vb = 0.0;
      if (n0 + n < p.N && kt + kb < p.K) { vb = loadB(b0, kt + kb, n0 + n); }
      Bs[kb * BN + n] = vb;
    }
    workgroupBarrier();
    for (var k = 0u; k < BK; k++) {
      var a: array<f32, 4>;
      var bv: array<f32, 4>;
      for (var i = 0u; i < 4u; i++) { a[i] = As[k * BM + lid.y + 16u * i]; }
      for (var j = 0u; j < 4u; j++) { bv[j] = Bs[k * BN + lid.x + 16u * j]; }
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

// ---- v3 register-blocked, no workgroup memory ---------------------------------------------------
@compute @workgroup_size(8, 8, 1)
fn matmul_regblock(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let mBase = (wg.y * 8u + lid.y) * TM;
  let nBase = (wg.x * 8u + lid.x) * TN;
  let a0 = p.offA + wg.z * p.strideA;
  let b0 = p.offB + wg.z * p.strideB;
  var acc: array<array<f32, TN>, TM>;
  for (var k = 0u; k < p.K; k++) {
    // Indices past the edge are clamped, not branched on: the loads stay in bounds and the
    // extra results are simply not stored.
    var a: array<f32, TM>;
    var bv: array<f32, TN>;
    for (var i = 0u; i < TM; i++) { a[i] = loadA(a0, min(mBase + i, p.M - 1u), k); }
    for (var j = 0u; j < TN; j++) { bv[j] = loadB(b0, k, min(nBase + j, p.N - 1u)); }
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

//#include matmul_skinny
