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
const MR: u32 = 8u;
const SN: u32 = 4u;
const SKW: u32 = 64u;  // skinny's workgroup width (the host's skinnyWidth)
const LN: bool = false;
const VEC4B: bool = false;

//#if VEC4B
// skinny with op(B) = Bᵀ stored [N, K], K and B's offsets multiples of 4 (the host sets VEC4B
// there): each invocation reads its columns' rows four k at a time, one 16-byte load where it made
// four scalar gathers, and takes the four FMAs in k order, so every column's sum is the scalar
// loop's to the bit. Binding 2 is B itself, seen as vec4s; this entry point never touches the f32
// view. (B stored [K, N], one vec4 of an invocation's 4 columns per k, ran ×5 slower on lavapipe.)
@group(0) @binding(2) var<storage, read> B4: array<vec4f>;
//#end

//#if LN
// Binding 5 is the GELU epilogue's pre-activation (gpu.unused without one), so γ and β sit past it.
@group(0) @binding(6) var<storage, read> ln_gamma: array<f32>;
@group(0) @binding(7) var<storage, read> ln_beta: array<f32>;
var<workgroup> ln_stats: array<vec2f, MR>;
//#end

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

// ---- v5 skinny: few rows ----------------------------------------------------------------------
// Per k: MR loads of A and SN of B for MR·SN FMAs. At M = 1 (MR = 1) that is 1.25 loads per FMA
// against the naive kernel's 2, and each B element is read once for all MR rows rather than once
// per row. Columns past N are clamped like regblock's; rows past M exist only in the last
// y-block of an M > MR call (correct, not fast: the heuristic sends those elsewhere).
// The workgroup is SKW invocations wide (64, 32 or 16: the host's skinnyWidth), narrower for
// narrow outputs so that a 128-column product (a decoding step's out_proj and c_proj at M = 1)
// spreads over more than one workgroup, hence more than one core of a software adapter. The
// width only decides which invocation owns which columns: each column's sum is the same.
// With LN the workgroup first takes its MR rows' statistics with layernorm.wgsl's own code
// (layernorm_row.wgsl: its first WG invocations hold a row the way the layernorm kernel's do),
// then normalises each A element as it loads it, with the layernorm kernel's expression: the
// product sees the bits the layernorm kernel would have written.
@compute @workgroup_size(SKW, 1, 1)
fn matmul_skinny(@builtin(global_invocation_id) gid: vec3u, @builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) tid: u32) {
  let nBase = gid.x * SN;
  let mBase = gid.y * MR;
  let a0 = p.offA + gid.z * p.strideA;
  //#if LN
  // Before the early return below: the barriers need every invocation.
  for (var i = 0u; i < MR; i++) {
    // Rows past M are never stored: no statistics for them. (wg.y = gid.y, the workgroup being
    // one row high; the workgroup id is what the uniformity analysis accepts before a barrier.)
    if (wg.y * MR + i >= p.M) { break; }
    let row = a0 + (mBase + i) * p.lda;
    var v: array<vec4f, VPT>;
    if (tid < WG) {
      for (var k = 0u; k < VPT; k++) {
        for (var j = 0u; j < 4u; j++) {
          if (row_col(tid, k) + j < p.K) { v[k][j] = A[row + row_col(tid, k) + j]; }
        }
      }
    }
    let st = row_stats(tid, &v, p.K, p.eps);
    if (tid == 0u) { ln_stats[i] = st; }
  }
  workgroupBarrier();
  var st: array<vec2f, MR>;
  for (var i = 0u; i < MR; i++) { st[i] = ln_stats[i]; }
  //#end
  if (nBase >= p.N) { return; }
  let b0 = p.offB + gid.z * p.strideB;
  var acc: array<array<f32, SN>, MR>;
  //#if VEC4B
  var rows4: array<u32, SN>;
  for (var j = 0u; j < SN; j++) { rows4[j] = (b0 + min(nBase + j, p.N - 1u) * p.ldb) / 4u; }
  for (var k4 = 0u; k4 < p.K / 4u; k4++) {
    var bq: array<vec4f, SN>;
    for (var j = 0u; j < SN; j++) { bq[j] = B4[rows4[j] + k4]; }
    for (var t = 0u; t < 4u; t++) {
      let k = k4 * 4u + t;
      //#if LN
      let g = ln_gamma[p.offGamma + k];
      let be = ln_beta[p.offBeta + k];
      //#end
      for (var i = 0u; i < MR; i++) {
        var a = loadA(a0, min(mBase + i, p.M - 1u), k);
        //#if LN
        a = fma((a - st[i].x) * st[i].y, g, be);
        //#end
        for (var j = 0u; j < SN; j++) { acc[i][j] = fma(a, bq[j][t], acc[i][j]); }
      }
    }
  }
  //#else
  for (var k = 0u; k < p.K; k++) {
    var bv: array<f32, SN>;
    for (var j = 0u; j < SN; j++) { bv[j] = loadB(b0, k, min(nBase + j, p.N - 1u)); }
    //#if LN
    let g = ln_gamma[p.offGamma + k];
    let be = ln_beta[p.offBeta + k];
    //#end
    for (var i = 0u; i < MR; i++) {
      var a = loadA(a0, min(mBase + i, p.M - 1u), k);
      //#if LN
      a = fma((a - st[i].x) * st[i].y, g, be);
      //#end
      for (var j = 0u; j < SN; j++) { acc[i][j] = fma(a, bv[j], acc[i][j]); }
    }
  }
  //#end
  let c0 = p.offC + gid.z * p.strideC;
  for (var i = 0u; i < MR; i++) {
    for (var j = 0u; j < SN; j++) {
      if (mBase + i < p.M && nBase + j < p.N) { store(c0, mBase + i, nBase + j, acc[i][j]); }
    }
  }
}
