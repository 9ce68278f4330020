// matmul_subgroups.wgsl — v4 of the matmul family (contract, bindings and Params: matmul.wgsl
// and matmul_common.wgsl, included below).
//
//   matmul_subgroup  Each subgroup computes TM rows x (SG·TN) columns; each lane TM x TN of them.
//                    Per k, a lane loads only TM/SG values of A's column and TN of B's row;
//                    subgroupBroadcast hands every lane the A values its neighbours loaded.
//                    That raises FMAs per loaded scalar to TM·TN/(TM/SG + TN) = 21 for
//                    SG=8, which is what a software adapter (load-bound) needs.
//
// Assumes a workgroup's subgroups are consecutive ranges of local_invocation_index (true for
// lavapipe and the drivers we know; the tests would catch a driver where it is not).
enable subgroups;

//#include matmul_common

const SG: u32 = 8u;    // the adapter's (fixed) subgroup size
const TM: u32 = 32u;   // rows per subgroup; a multiple of SG
const TN: u32 = 8u;    // columns per lane
const NSUB: u32 = 2u;  // subgroups per workgroup, side by side along n
const APL: u32 = TM / SG;

@compute @workgroup_size(SG * NSUB, 1, 1)
fn matmul_subgroup(@builtin(workgroup_id) wg: vec3u,
                   @builtin(local_invocation_index) li: u32,
                   @builtin(subgroup_invocation_id) lane: u32) {
  let mBase = wg.y * TM;
  let nBase = ((wg.x * NSUB + li / SG) * SG + lane) * TN;
  let a0 = p.offA + wg.z * p.strideA;
  let b0 = p.offB + wg.z * p.strideB;
  var acc: array<array<f32, TN>, TM>;
  var rowsum: array<f32, APL>;
  for (var k = 0u; k < p.K; k++) {
    // Past the edge, indices are clamped rather than branched on: every lane must reach the
    // broadcasts, and the extra results are not stored.
    var mine: array<f32, APL>;
    for (var i = 0u; i < APL; i++) { mine[i] = loadA(a0, min(mBase + lane * APL + i, p.M - 1u), k); }
    //#if ROWSUM
    for (var i = 0u; i < APL; i++) { rowsum[i] += mine[i]; }
    //#end
    var bv: array<f32, TN>;
    for (var j = 0u; j < TN; j++) { bv[j] = loadB(b0, k, min(nBase + j, p.N - 1u)); }
    //#unroll L SG
    for (var i = 0u; i < APL; i++) {
      let av = subgroupBroadcast(mine[i], L);
      for (var j = 0u; j < TN; j++) { acc[L * APL + i][j] = fma(av, bv[j], acc[L * APL + i][j]); }
    }
    //#end
  }
  //#if ROWSUM
  // Every workgroup along n summed the same rows; the first subgroup of the first one writes them.
  if (wg.x == 0u && li < SG) {
    for (var i = 0u; i < APL; i++) {
      let m = mBase + lane * APL + i;
      if (m < p.M) {
        var v = rowsum[i];
        if ((p.flags & ROWSUM_ACCUMULATE) != 0u) { v += C[p.offBias + m]; }
        C[p.offBias + m] = v;
      }
    }
  }
  //#end
  let c0 = p.offC + wg.z * p.strideC;
  for (var r = 0u; r < TM; r++) {
    for (var j = 0u; j < TN; j++) {
      if (mBase + r < p.M && nBase + j < p.N) { store(c0, mBase + r, nBase + j, acc[r][j]); }
    }
  }
}
