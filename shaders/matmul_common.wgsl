// matmul_common.wgsl — what every matmul variant shares (included by matmul.wgsl and
// matmul_subgroups.wgsl through `//#include matmul_common`): the Params block, the bindings,
// element access of op(A) and op(B), and the epilogue (alpha, bias, accumulate).
//
// Bindings: 0 Params (uniform) · 1 A (read) · 2 B (read) · 3 bias (read) · 4 C (read_write)
// With ROWSUM (the subgroup variant only) the kernel also writes C[offBias + m] = Σ_k op(A)[m, k]
// (+= with ROWSUM_ACCUMULATE), from the A values it loads anyway: for dW = dyᵀ·x that is the
// bias gradient, which sits in the same gradient arena as dW, so it costs no pass of its own
// (and, in C's buffer, no second writable binding of it).
// GELU_OUT (binding 5 aux, written): the epilogue stores the pre-activation v (alpha·acc + bias)
// into aux, laid out as C from offAux, and gelu(v) into C: an MLP's first linear with its GELU in
// one pass, keeping what the backward needs. GELU_GRAD (binding 5 aux, read): C = v·gelu'(aux),
// the backward of that GELU folded into the matmul that produces its upstream gradient. Neither
// accumulates (the host refuses).
// op(A) is MxK: A is stored MxK (row stride lda), or KxM when TRANS_A. op(B) is KxN likewise.
// Batch b reads A from offA + b·strideA (strideA = 0 broadcasts one A over the batch), etc.

struct Params {
  M: u32, N: u32, K: u32, flags: u32,
  lda: u32, ldb: u32, ldc: u32, alpha: f32,
  offA: u32, offB: u32, offC: u32, offBias: u32,
  strideA: u32, strideB: u32, strideC: u32, offAux: u32,
  // Split-K only (matmul_tiled128.wgsl): slices of K, and how long each is.
  splits: u32, kSlice: u32,
  // LN only (matmul.wgsl's skinny, matmul_subgroups.wgsl): where γ and β start, and layernorm's
  // eps; LN_OUT only (the subgroup variant): where the normalised rows, means and 1/σ go.
  offGamma: u32, offBeta: u32, eps: f32, offLnY: u32, offLnMean: u32, offLnRstd: u32,
}

const TRANS_A: bool = false;
const TRANS_B: bool = false;
const ROWSUM: bool = false;
const GELU_OUT: bool = false;
const GELU_GRAD: bool = false;

const HAS_BIAS: u32 = 1u;
const ACCUMULATE: u32 = 2u;
const ROWSUM_ACCUMULATE: u32 = 4u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
//#include gelu_epilogue

@group(0) @binding(4) var<storage, read_write> C: array<f32>;

// Element (m, k) of op(A) in the batch whose A starts at a0.
fn loadA(a0: u32, m: u32, k: u32) -> f32 {
  if (TRANS_A) { return A[a0 + k * p.lda + m]; }
  return A[a0 + m * p.lda + k];
}

// Element (k, n) of op(B) in the batch whose B starts at b0.
fn loadB(b0: u32, k: u32, n: u32) -> f32 {
  if (TRANS_B) { return B[b0 + n * p.ldb + k]; }
  return B[b0 + k * p.ldb + n];
}

fn store(c0: u32, m: u32, n: u32, acc: f32) {
  var v = p.alpha * acc;
  if ((p.flags & HAS_BIAS) != 0u) { v += bias[p.offBias + n]; }
  let i = c0 + m * p.ldc + n;
  v = gelu_epilogue(v, i);
  // Read C only when accumulating: a fresh output may hold anything, NaN included.
  if ((p.flags & ACCUMULATE) != 0u) { v += C[i]; }
  C[i] = v;
}
