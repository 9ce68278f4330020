// mlp_rows.wgsl — a pre-norm transformer MLP for a few rows in one dispatch, one workgroup a row:
//   y = GELU(LN(x)·W1ᵀ + b1)·W2ᵀ + b2 (+ residual)
// (a decoding step's ln_2 → c_fc → GELU → c_proj → + x). The matmul kernels take it as two
// dispatches (skinny with its layernorm prologue and GELU epilogue, then skinny accumulating onto a
// copy of the residual), and on a software adapter each dispatch costs ~0.1 ms whatever its size,
// more than a row's arithmetic. Every value here comes out of their expressions in their order —
// the row's statistics from layernorm_row.wgsl's row_stats, the prologue's normalisation, each sum
// over k in k order by fma, the epilogue's bias, GELU and residual adds — so the bits are those of
// the two products (test/kernels/mlp-rows.test.ts) and a cached decoding step stays equal to
// recomputation. The normalised row and the hidden row wait in workgroup memory between stages.
//
// Bindings: 0 Params · 1 x [M, K] · 2 W1 [HID, K] as vec4s · 3 b1 [HID] · 4 W2 [N, HID] as vec4s
// · 5 b2 [N] · 6 γ [K] · 7 β [K] · 8 residual [M, N] (read; gpu.unused without) · 9 y [M, N] (rw).
// K and HID are multiples of 4 and the weights start on 16-byte boundaries (the host's check).

struct Params {
  M: u32, flags: u32, eps: f32, offX: u32,
  offW1: u32, offB1: u32, offW2: u32, offB2: u32,
  offGamma: u32, offBeta: u32, offRes: u32, offY: u32,
}

const HAS_RESIDUAL: u32 = 1u;

const WGS: u32 = 64u;   // invocations a workgroup
const K: u32 = 128u;    // x's row
const HID: u32 = 512u;  // c_fc's outputs
const N: u32 = 128u;    // c_proj's outputs
const K4: u32 = K / 4u;
const H4: u32 = HID / 4u;
const C1: u32 = (HID + WGS - 1u) / WGS;  // hidden columns an invocation
const C2: u32 = (N + WGS - 1u) / WGS;    // output columns an invocation

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> W1: array<vec4f>;
@group(0) @binding(3) var<storage, read> b1: array<f32>;
@group(0) @binding(4) var<storage, read> W2: array<vec4f>;
@group(0) @binding(5) var<storage, read> b2: array<f32>;
@group(0) @binding(6) var<storage, read> ln_gamma: array<f32>;
@group(0) @binding(7) var<storage, read> ln_beta: array<f32>;
@group(0) @binding(8) var<storage, read> res: array<f32>;
@group(0) @binding(9) var<storage, read_write> Y: array<f32>;

//#include layernorm_row

const GELU_OUT: bool = false;
const GELU_GRAD: bool = false;
//#include gelu_epilogue

var<workgroup> xn: array<vec4f, K4>;
var<workgroup> hid: array<vec4f, H4>;

// Σ_k a[k]·W[row, k] over one vec4 of k, in k order (the skinny kernel's four FMAs per Bᵀ load).
fn fma4(a: vec4f, w: vec4f, acc: f32) -> f32 {
  return fma(a.w, w.w, fma(a.z, w.z, fma(a.y, w.y, fma(a.x, w.x, acc))));
}

@compute @workgroup_size(WGS, 1, 1)
fn mlp_rows(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) tid: u32) {
  let m = wg.x;
  let row = p.offX + m * K;
  // The statistics as the layernorm kernel takes them: its first WG invocations hold the row.
  var v: array<vec4f, VPT>;
  if (tid < WG) {
    for (var k = 0u; k < VPT; k++) {
      for (var j = 0u; j < 4u; j++) {
        if (row_col(tid, k) + j < K) { v[k][j] = X[row + row_col(tid, k) + j]; }
      }
    }
  }
  let st = row_stats(tid, &v, K, p.eps);
  for (var k = tid; k < K; k += WGS) {
    xn[k / 4u][k % 4u] = fma((X[row + k] - st.x) * st.y, ln_gamma[p.offGamma + k], ln_beta[p.offBeta + k]);
  }
  workgroupBarrier();

  // c_fc + b1, GELU: hidden columns tid, tid + WGS, … (clamped past HID, never stored).
  var acc1: array<f32, C1>;
  var w1row: array<u32, C1>;
  for (var c = 0u; c < C1; c++) { w1row[c] = p.offW1 / 4u + min(tid + c * WGS, HID - 1u) * K4; }
  for (var k4 = 0u; k4 < K4; k4++) {
    let a = xn[k4];
    for (var c = 0u; c < C1; c++) { acc1[c] = fma4(a, W1[w1row[c] + k4], acc1[c]); }
  }
  for (var c = 0u; c < C1; c++) {
    let n = tid + c * WGS;
    if (n < HID) {
      let h = acc1[c] + b1[p.offB1 + n];
      hid[n / 4u][n % 4u] = h * phi(h);
    }
  }
  workgroupBarrier();

  // c_proj + b2 (+ residual).
  var acc2: array<f32, C2>;
  var w2row: array<u32, C2>;
  for (var c = 0u; c < C2; c++) { w2row[c] = p.offW2 / 4u + min(tid + c * WGS, N - 1u) * H4; }
  for (var k4 = 0u; k4 < H4; k4++) {
    let g = hid[k4];
    for (var c = 0u; c < C2; c++) { acc2[c] = fma4(g, W2[w2row[c] + k4], acc2[c]); }
  }
  for (var c = 0u; c < C2; c++) {
    let n = tid + c * WGS;
    if (n < N) {
      var y = acc2[c] + b2[p.offB2 + n];
      if ((p.flags & HAS_RESIDUAL) != 0u) { y += res[p.offRes + m * N + n]; }
      Y[p.offY + m * N + n] = y;
    }
  }
}
