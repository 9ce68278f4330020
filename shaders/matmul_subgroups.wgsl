// matmul_subgroups.wgsl — v4 of the matmul family (contract, bindings and Params: matmul.wgsl
// and matmul_common.wgsl, included below).
//
//   matmul_subgroup  Each subgroup computes TM rows x (SG·TN) columns; each lane TM x TN of them.
//                    Per k, a lane loads only TM/SG values of A's column and TN of B's row;
//                    subgroupBroadcast hands every lane the A values its neighbours loaded.
//                    That raises FMAs per loaded scalar to TM·TN/(TM/SG + TN) = 21 for
//                    SG=8, which is what a software adapter (load-bound) needs.
//
//                    With LN, op(A) is the layernorm of A's rows (γ, β at bindings 6, 7; A not
//                    transposed, batch 1), as in matmul.wgsl's skinny: the workgroup first takes
//                    its TM rows' mean and 1/σ, one row per invocation, adding what layernorm.wgsl
//                    adds in the order it adds it (layernorm_row.wgsl's row_stats, its WG
//                    invocations' partial sums taken in turn: ln_row_stats_alone), then normalises
//                    each A value as it loads it with the layernorm kernel's expression: the
//                    product reads the bits the layernorm kernel would have written. Any subgroup
//                    size serves (no barrier inside a row). With LN_OUT the workgroups of the first
//                    column block also write what the layernorm kernel writes — the normalised
//                    rows, mean and 1/σ — into binding 8 (at offLnY, offLnMean, offLnRstd), which
//                    a training step's backward reads (dW reads the rows; layernorm's backward
//                    x, mean and 1/σ): a pre-norm linear of training without a layernorm dispatch.
//
// Assumes a workgroup's subgroups are consecutive ranges of local_invocation_index (true for
// lavapipe and the drivers we know; the tests would catch a driver where it is not).
enable subgroups;

//#include matmul_common
//#include layernorm_row

const SG: u32 = 8u;    // the adapter's (fixed) subgroup size
const TM: u32 = 32u;   // rows per subgroup; a multiple of SG
const TN: u32 = 8u;    // columns per lane
const NSUB: u32 = 2u;  // subgroups per workgroup, side by side along n
const APL: u32 = TM / SG;
const LN: bool = false;
const LN_OUT: bool = false;
const VEC4A: bool = false;
const VEC4B: bool = false;

// With VEC4A (A stored [K, M]) or VEC4B (B stored [K, N]) a lane's 4 neighbouring rows or columns
// of one k are one 16-byte load where they were four. Bindings 1 and 2 are then A and B seen as
// vec4s, and the entry point never touches their f32 views (the host checks the alignment).
// scripts/ab-subgroup.ts (lavapipe, alternating): dW = dyᵀ·x 512x128x2080 15.6 → 13.2 ms, dx = dy·W
// 2080x128x512 16.7 → 15.7. Along k (A stored [M, K], Bᵀ) vec4s need 4 k a trip, and every such
// loop tried (vec4s or not, 2 or 4 k) ran 5–40 % slower than this one-k loop.
//#if VEC4A
@group(0) @binding(1) var<storage, read> A4: array<vec4f>;
//#end
//#if VEC4B
@group(0) @binding(2) var<storage, read> B4: array<vec4f>;
//#end

//#if LN
// Binding 5 is the GELU epilogue's pre-activation (gpu.unused without one), so γ and β sit past it.
@group(0) @binding(6) var<storage, read> ln_gamma: array<f32>;
@group(0) @binding(7) var<storage, read> ln_beta: array<f32>;
var<workgroup> ln_stats: array<vec2f, TM>;
//#end
//#if LN_OUT
@group(0) @binding(8) var<storage, read_write> ln_out: array<f32>;
//#end
//#if LN
// ln_row_stats_alone's view of A (layernorm_row_alone.wgsl).
fn ln_row_at(i: u32) -> f32 { return A[i]; }
//#include layernorm_row_alone
//#end

@compute @workgroup_size(SG * NSUB, 1, 1)
fn matmul_subgroup(@builtin(workgroup_id) wg: vec3u,
                   @builtin(local_invocation_index) li: u32,
                   @builtin(subgroup_invocation_id) lane: u32) {
  let mBase = wg.y * TM;
  let nBase = ((wg.x * NSUB + li / SG) * SG + lane) * TN;
  let a0 = p.offA + wg.z * p.strideA;
  let b0 = p.offB + wg.z * p.strideB;
  //#if LN
  // Statistics of the workgroup's TM rows, each row's by one invocation (rows li, li + SG·NSUB, …):
  // no barrier but the one below. Rows past M are never stored and get none.
  //#if LN_OUT
  let writes = wg.x == 0u;
  //#end
  for (var r = li; r < TM; r += SG * NSUB) {
    let m = mBase + r;
    if (m >= p.M) { break; }
    let row = a0 + m * p.lda;
    let rs = ln_row_stats_alone(row, p.K, p.eps);
    ln_stats[r] = rs;
    //#if LN_OUT
    if (writes) {
      // layernorm.wgsl's ln_fwd_core, element for element.
      for (var c = 0u; c < p.K; c++) {
        ln_out[p.offLnY + m * p.K + c] = fma((A[row + c] - rs.x) * rs.y, ln_gamma[p.offGamma + c], ln_beta[p.offBeta + c]);
      }
      ln_out[p.offLnMean + m] = rs.x;
      ln_out[p.offLnRstd + m] = rs.y;
    }
    //#end
  }
  workgroupBarrier();
  var st: array<vec2f, APL>;
  for (var i = 0u; i < APL; i++) { st[i] = ln_stats[lane * APL + i]; }
  //#end
  var acc: array<array<f32, TN>, TM>;
  var rowsum: array<f32, APL>;
  for (var k = 0u; k < p.K; k++) {
    // Past the edge, indices are clamped rather than branched on: every lane must reach the
    // broadcasts, and the extra results are not stored.
    var mine: array<f32, APL>;
    //#if VEC4A
    for (var q = 0u; q < APL / 4u; q++) {
      let v = A4[(a0 + k * p.lda + min(mBase + lane * APL + 4u * q, p.M - 4u)) / 4u];
      for (var c = 0u; c < 4u; c++) { mine[4u * q + c] = v[c]; }
    }
    //#else
    for (var i = 0u; i < APL; i++) { mine[i] = loadA(a0, min(mBase + lane * APL + i, p.M - 1u), k); }
    //#end
    //#if LN
    let g = ln_gamma[p.offGamma + k];
    let be = ln_beta[p.offBeta + k];
    // matmul.wgsl's skinny (and layernorm.wgsl's forward) expression.
    for (var i = 0u; i < APL; i++) { mine[i] = fma((mine[i] - st[i].x) * st[i].y, g, be); }
    //#end
    //#if ROWSUM
    for (var i = 0u; i < APL; i++) { rowsum[i] += mine[i]; }
    //#end
    var bv: array<f32, TN>;
    //#if VEC4B
    for (var q = 0u; q < TN / 4u; q++) {
      let v = B4[(b0 + k * p.ldb + min(nBase + 4u * q, p.N - 4u)) / 4u];
      for (var c = 0u; c < 4u; c++) { bv[4u * q + c] = v[c]; }
    }
    //#else
    for (var j = 0u; j < TN; j++) { bv[j] = loadB(b0, k, min(nBase + j, p.N - 1u)); }
    //#end
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
