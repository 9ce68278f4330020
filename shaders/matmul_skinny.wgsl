// matmul_skinny.wgsl — v5 of the matmul family: few rows (contract: matmul.wgsl). Included by
// matmul.wgsl, and by matmul_skinny_sg.wgsl, which enables subgroups and sets SG_A (the including
// file declares SG_A, and SG with it).
//
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
// With VEC4B (Bᵀ stored [N, K], K and B's offset multiples of 4: the host decides) each invocation
// reads its columns' rows four k at a time, one 16-byte load where it made four scalar gathers,
// and takes the four FMAs in k order. (B stored [K, N], one vec4 of an invocation's 4 columns per
// k, ran ×5 slower on lavapipe, so only Bᵀ does this.)
// With SG_A (subgroups of SG lanes, SKW a multiple of SG; only with VEC4B and LN, the host's
// rule) each lane loads and normalises one k of every SG, and subgroupShuffle hands that value to
// every lane as the k loop reaches it: A, γ and β cost each lane one load per SG values of k
// instead of three per k. A software adapter pays for every lane's load, uniform or not.
// Either way each column's FMAs and their order are the scalar loop's, and so are the bits.

const MR: u32 = 8u;
const SN: u32 = 4u;
const SKW: u32 = 64u;  // skinny's workgroup width (the host's skinnyWidth)
const LN: bool = false;
const VEC4B: bool = false;

//#if VEC4B
// Binding 2 is B itself, seen as vec4s; this entry point never touches the f32 view.
@group(0) @binding(2) var<storage, read> B4: array<vec4f>;
//#end

//#if LN
// Binding 5 is the GELU epilogue's pre-activation (gpu.unused without one), so γ and β sit past it.
@group(0) @binding(6) var<storage, read> ln_gamma: array<f32>;
@group(0) @binding(7) var<storage, read> ln_beta: array<f32>;
var<workgroup> ln_stats: array<vec2f, MR>;
//#end

@compute @workgroup_size(SKW, 1, 1)
fn matmul_skinny(@builtin(global_invocation_id) gid: vec3u, @builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) tid: u32
//#if SG_A
                 , @builtin(subgroup_invocation_id) lane: u32
//#end
) {
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
  //#if SG_A
  // No early return: every lane of a subgroup takes part in its shuffles. Lanes past N compute
  // clamped columns and store nothing.
  //#else
  if (nBase >= p.N) { return; }
  //#end
  let b0 = p.offB + gid.z * p.strideB;
  var acc: array<array<f32, SN>, MR>;
  //#if VEC4B
  var rows4: array<u32, SN>;
  for (var j = 0u; j < SN; j++) { rows4[j] = (b0 + min(nBase + j, p.N - 1u) * p.ldb) / 4u; }
  //#end
  //#if SG_A
  for (var k0 = 0u; k0 < p.K; k0 += SG) {
    // This lane's k of the next SG: its A value of each row, normalised with LN as below.
    let kl = min(k0 + lane, p.K - 1u);
    var mine: array<f32, MR>;
    for (var i = 0u; i < MR; i++) {
      var a = loadA(a0, min(mBase + i, p.M - 1u), kl);
      //#if LN
      a = fma((a - st[i].x) * st[i].y, ln_gamma[p.offGamma + kl], ln_beta[p.offBeta + kl]);
      //#end
      mine[i] = a;
    }
    // SG_A comes with VEC4B (the host's rule): K is a multiple of 4 and so is SG, hence steps.
    let steps = min(SG, p.K - k0);
    for (var t4 = 0u; t4 < steps / 4u; t4++) {
      var bq: array<vec4f, SN>;
      for (var j = 0u; j < SN; j++) { bq[j] = B4[rows4[j] + k0 / 4u + t4]; }
      for (var t = 0u; t < 4u; t++) {
        for (var i = 0u; i < MR; i++) {
          let a = subgroupShuffle(mine[i], t4 * 4u + t);
          for (var j = 0u; j < SN; j++) { acc[i][j] = fma(a, bq[j][t], acc[i][j]); }
        }
      }
    }
  }
  //#else
  //#if VEC4B
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
  //#end
  let c0 = p.offC + gid.z * p.strideC;
  for (var i = 0u; i < MR; i++) {
    for (var j = 0u; j < SN; j++) {
      if (mBase + i < p.M && nBase + j < p.N) { store(c0, mBase + i, nBase + j, acc[i][j]); }
    }
  }
}
