// matmul_tiled128.wgsl — v5: the register-tiled workgroup-memory matmul of real GPUs, in two tile
// sizes, and its split-K form for thin products.
//
// A TILE x TILE output tile per workgroup of (TILE/8)² invocations, 8x8 outputs per invocation
// (TILE = 128: 16x16 invocations; TILE = 64: 8x8, for products too small to give every compute
// unit a 128-wide tile), K walked in slices of BK = 8 staged through workgroup memory. Each
// invocation owns rows 4·ty..4·ty+3 and TILE/2+4·ty..TILE/2+4·ty+3 and the same columns by tx, so
// every step of the inner loop is four vec4 reads of workgroup memory (two of A, two of B) for 64
// FMAs; consecutive invocations read consecutive vec4s. Tiles are filled by walking the stored
// rows so that neighbouring invocations load neighbouring words of A and B (any layout, offset
// and shape: the loads are scalar and bounds-checked, the padding zeros).
//
// SPLITK: when M·N makes too few tiles to fill the device and K is long (dW = dyᵀ·x of a batch of
// sequences, the vocabulary's gradient), grid z runs batch × p.splits slices of K, each over
// p.kSlice of it, writing its raw partial sums to C laid out [batch·splits, M, N] (a scratch
// buffer); matmul_splitk_reduce then adds the slices in a fixed order (the same bits every run)
// and applies the epilogue (alpha, bias, accumulate, GELU) through matmul_common's store().
//
// Bindings, Params and element access: matmul_common.wgsl (included below).

//#include matmul_common

const TILE: u32 = 128u;
const SPLITK: bool = false;
const WS: u32 = TILE / 8u;
const THREADS: u32 = WS * WS;
const BM: u32 = TILE;
const BN: u32 = TILE;
const BK: u32 = 8u;
// Tiles as vec4s along m (As) and n (Bs): As[k·BM/4 + m/4][m%4] is op(A)(m, k) of the slice.
var<workgroup> As: array<vec4f, BK * BM / 4u>;
var<workgroup> Bs: array<vec4f, BK * BN / 4u>;

@compute @workgroup_size(WS, WS, 1)
fn matmul_tiled128(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let tid = lid.y * WS + lid.x;
  let m0 = wg.y * BM;
  let n0 = wg.x * BN;
  var b = wg.z;
  var kBegin = 0u;
  var kEnd = p.K;
  if (SPLITK) {
    b = wg.z / p.splits;
    kBegin = (wg.z % p.splits) * p.kSlice;
    kEnd = min(kBegin + p.kSlice, p.K);
  }
  let a0 = p.offA + b * p.strideA;
  let b0 = p.offB + b * p.strideB;
  // acc[2i + h]: row i of the invocation's eight (i < 4: 4·ty + i; else TILE/2 + 4·ty + i - 4),
  // columns 4·tx..4·tx+3 (h = 0) or TILE/2 + 4·tx.. (h = 1).
  var acc: array<vec4f, 16>;
  for (var kt = kBegin; kt < kEnd; kt += BK) {
    for (var i = 0u; i < BK * BM / THREADS; i++) {
      let e = tid + i * THREADS;
      var m = e / BK;
      var k = e % BK;
      if (TRANS_A) { k = e / BM; m = e % BM; }
      var va = 0.0;
      if (m0 + m < p.M && kt + k < kEnd) { va = loadA(a0, m0 + m, kt + k); }
      As[(k * BM + m) / 4u][m % 4u] = va;
      var kb = e / BN;
      var n = e % BN;
      if (TRANS_B) { n = e / BK; kb = e % BK; }
      var vb = 0.0;
      if (n0 + n < p.N && kt + kb < kEnd) { vb = loadB(b0, kt + kb, n0 + n); }
      Bs[(kb * BN + n) / 4u][n % 4u] = vb;
    }
    workgroupBarrier();
    for (var k = 0u; k < BK; k++) {
      var a = array<vec4f, 2>(As[k * (BM / 4u) + lid.y], As[k * (BM / 4u) + WS + lid.y]);
      var bv = array<vec4f, 2>(Bs[k * (BN / 4u) + lid.x], Bs[k * (BN / 4u) + WS + lid.x]);
      for (var i = 0u; i < 8u; i++) {
        let ai = vec4f(a[i / 4u][i % 4u]);
        acc[2u * i] = fma(ai, bv[0], acc[2u * i]);
        acc[2u * i + 1u] = fma(ai, bv[1], acc[2u * i + 1u]);
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 8u; i++) {
    let m = m0 + (i / 4u) * (TILE / 2u) + lid.y * 4u + i % 4u;
    if (m >= p.M) { continue; }
    for (var h = 0u; h < 2u; h++) {
      for (var c = 0u; c < 4u; c++) {
        let n = n0 + h * (TILE / 2u) + lid.x * 4u + c;
        if (n < p.N) {
          if (SPLITK) { C[p.offC + (wg.z * p.M + m) * p.N + n] = acc[2u * i + h][c]; }
          else { store(p.offC + b * p.strideC, m, n, acc[2u * i + h][c]); }
        }
      }
    }
  }
}

// The second pass of SPLITK: A holds the partials [batch·splits, M, N] from offA; element (m, n)
// of batch wg.z is their sum over the slices in order, then the epilogue into C.
@compute @workgroup_size(256, 1, 1)
fn matmul_splitk_reduce(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  // Workgroups numbered x + y·nwg.x: M·N may need more than 65535 of them in x.
  let e = (wg.y * nwg.x + wg.x) * 256u + li;
  if (e >= p.M * p.N) { return; }
  let m = e / p.N;
  let n = e % p.N;
  var acc = 0.0;
  for (var s = 0u; s < p.splits; s++) { acc += A[p.offA + (wg.z * p.splits + s) * p.M * p.N + e]; }
  store(p.offC + wg.z * p.strideC, m, n, acc);
}
