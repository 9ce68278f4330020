enable f16;
enable chromium_experimental_subgroup_matrix;
// Subgroup s is invocations 32s..32s+31 (host: only where the subgroup size is fixed at 32, with
// full subgroups, which Dawn requires for subgroup matrices); uniformity analysis cannot see that
// tid / 32 is uniform in a subgroup, so its check is turned off.
diagnostic(off, chromium_experimental.subgroup_matrix_uniformity);

// matmul_sgmatrix.wgsl — v6: C = alpha·op(A)·op(B) (+ bias) (+ C) on Dawn's experimental subgroup
// matrices (tensor cores on NVIDIA), f16 inputs accumulated in f32. Needs the device feature
// chromium-experimental-subgroup-matrix and a configuration f16 → f32 of SM_M x SM_N x SM_K
// (kernels/matmul.ts picks it from the adapter's list and sets the three constants).
//
// A 64x64 output tile per workgroup of 128 invocations (four subgroups of 32),
// K in slices of BK = 32: the slice of op(A) and op(B) is converted to f16 into workgroup memory
// (bounds-checked, zero-padded, any layout), then each subgroup multiplies its 32x32 block out of
// SM_M x SM_N result matrices. The results go through workgroup memory once more so that the
// epilogue (alpha, bias, accumulate, the edges) is matmul_common's `store`. No subgroup
// arithmetic in this module: NVIDIA's driver has crashed on modules mixing it with cooperative
// matrices (../shared/research/anchors-2026.md §1).
//
// Bindings, Params and element access: matmul_common.wgsl (included below).

//#include matmul_common

const SM_M: u32 = 16u;
const SM_N: u32 = 16u;
const SM_K: u32 = 16u;
const BM: u32 = 64u;
const BN: u32 = 64u;
const BK: u32 = 32u;
const WG: u32 = 128u;
// Result matrices per subgroup block (32x32): RM rows by RN columns of them.
const RM: u32 = 32u / SM_M;
const RN: u32 = 32u / SM_N;

var<workgroup> As: array<f16, 2048>; // BM x BK, row-major (m, k)
var<workgroup> Bs: array<f16, 2048>; // BK x BN, row-major (k, n)
var<workgroup> Cs: array<f32, 4096>; // BM x BN, row-major (m, n)

@compute @workgroup_size(128, 1, 1)
fn matmul_sgmatrix(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) tid: u32) {
  let m0 = wg.y * BM;
  let n0 = wg.x * BN;
  let a0 = p.offA + wg.z * p.strideA;
  let b0 = p.offB + wg.z * p.strideB;
  // Subgroup sg's block: rows 32·(sg / 2), columns 32·(sg % 2) of the tile.
  let sg = tid / 32u;
  let br = (sg / 2u) * 32u;
  let bc = (sg % 2u) * 32u;
  var acc: array<array<subgroup_matrix_result<f32, SM_N, SM_M>, RN>, RM>;
  for (var kt = 0u; kt < p.K; kt += BK) {
    for (var i = 0u; i < 2048u / WG; i++) {
      let e = tid + i * WG;
      // Walk the stored rows so neighbouring invocations read neighbouring words.
      var m = e / BK;
      var k = e % BK;
      if (TRANS_A) { k = e / BM; m = e % BM; }
      var va = 0.0;
      if (m0 + m < p.M && kt + k < p.K) { va = loadA(a0, m0 + m, kt + k); }
      As[m * BK + k] = f16(va);
      var kb = e / BN;
      var n = e % BN;
      if (TRANS_B) { n = e / BK; kb = e % BK; }
      var vb = 0.0;
      if (n0 + n < p.N && kt + kb < p.K) { vb = loadB(b0, kt + kb, n0 + n); }
      Bs[kb * BN + n] = f16(vb);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk += SM_K) {
      for (var i = 0u; i < RM; i++) {
        let left = subgroupMatrixLoad<subgroup_matrix_left<f16, SM_K, SM_M>>(&As, (br + i * SM_M) * BK + kk, false, BK);
        for (var j = 0u; j < RN; j++) {
          let right = subgroupMatrixLoad<subgroup_matrix_right<f16, SM_N, SM_K>>(&Bs, kk * BN + bc + j * SM_N, false, BN);
          acc[i][j] = subgroupMatrixMultiplyAccumulate(left, right, acc[i][j]);
        }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < RM; i++) {
    for (var j = 0u; j < RN; j++) {
      subgroupMatrixStore(&Cs, (br + i * SM_M) * BN + bc + j * SM_N, acc[i][j], false, BN);
    }
  }
  workgroupBarrier();
  let c0 = p.offC + wg.z * p.strideC;
  for (var i = 0u; i < 4096u / WG; i++) {
    let e = tid + i * WG;
    let m = m0 + e / BN;
    let n = n0 + e % BN;
    if (m < p.M && n < p.N) { store(c0, m, n, Cs[e]); }
  }
}
