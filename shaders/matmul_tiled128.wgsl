// matmul_tiled128.wgsl — v5: the register-tiled workgroup-memory matmul of real GPUs.
//
// A 128x128 output tile per workgroup of 16x16 invocations, 8x8 outputs per invocation, K walked
// in slices of BK = 8 staged through workgroup memory (8 KiB). Each invocation owns rows
// 4·ty..4·ty+3 and 64+4·ty..64+4·ty+3 and the same columns by tx, so every step of the inner
// loop is four vec4 reads of workgroup memory (two of A, two of B) for 64 FMAs; consecutive
// invocations read consecutive vec4s. Tiles are filled by walking the stored rows so that
// neighbouring invocations load neighbouring words of A and B (any layout, offset and shape:
// the loads are scalar and bounds-checked, the padding zeros).
//
// Bindings, Params and element access: matmul_common.wgsl (included below).

//#include matmul_common

const BM: u32 = 128u;
const BN: u32 = 128u;
const BK: u32 = 8u;
// Tiles as vec4s along m (As) and n (Bs): As[k·BM/4 + m/4][m%4] is op(A)(m, k) of the slice.
var<workgroup> As: array<vec4f, 256>; // BK x BM / 4
var<workgroup> Bs: array<vec4f, 256>; // BK x BN / 4

@compute @workgroup_size(16, 16, 1)
fn matmul_tiled128(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let tid = lid.y * 16u + lid.x;
  let m0 = wg.y * BM;
  let n0 = wg.x * BN;
  let a0 = p.offA + wg.z * p.strideA;
  let b0 = p.offB + wg.z * p.strideB;
  // acc[2i + h]: row i of the invocation's eight (i < 4: 4·ty + i; else 64 + 4·ty + i - 4),
  // columns 4·tx..4·tx+3 (h = 0) or 64 + 4·tx.. (h = 1).
  var acc: array<vec4f, 16>;
  for (var kt = 0u; kt < p.K; kt += BK) {
    for (var i = 0u; i < 4u; i++) {
      let e = tid + i * 256u;
      var m = e / BK;
      var k = e % BK;
      if (TRANS_A) { k = e / BM; m = e % BM; }
      var va = 0.0;
      if (m0 + m < p.M && kt + k < p.K) { va = loadA(a0, m0 + m, kt + k); }
      As[(k * BM + m) / 4u][m % 4u] = va;
      var kb = e / BN;
      var n = e % BN;
      if (TRANS_B) { n = e / BK; kb = e % BK; }
      var vb = 0.0;
      if (n0 + n < p.N && kt + kb < p.K) { vb = loadB(b0, kt + kb, n0 + n); }
      Bs[(kb * BN + n) / 4u][n % 4u] = vb;
    }
    workgroupBarrier();
    for (var k = 0u; k < BK; k++) {
      var a = array<vec4f, 2>(As[k * 32u + lid.y], As[k * 32u + 16u + lid.y]);
      var b = array<vec4f, 2>(Bs[k * 32u + lid.x], Bs[k * 32u + 16u + lid.x]);
      for (var i = 0u; i < 8u; i++) {
        let ai = vec4f(a[i / 4u][i % 4u]);
        acc[2u * i] = fma(ai, b[0], acc[2u * i]);
        acc[2u * i + 1u] = fma(ai, b[1], acc[2u * i + 1u]);
      }
    }
    workgroupBarrier();
  }
  let c0 = p.offC + wg.z * p.strideC;
  for (var i = 0u; i < 8u; i++) {
    let m = m0 + (i / 4u) * 64u + lid.y * 4u + i % 4u;
    if (m >= p.M) { continue; }
    for (var h = 0u; h < 2u; h++) {
      for (var c = 0u; c < 4u; c++) {
        let n = n0 + h * 64u + lid.x * 4u + c;
        if (n < p.N) { store(c0, m, n, acc[2u * i + h][c]); }
      }
    }
  }
}
