// conv2d_common.wgsl — what both conv2d variants share (included by conv2d.wgsl and
// conv2d_subgroups.wgsl through `//#include conv2d_common`): Params, the bindings of the three
// passes, the padding test. The passes' contracts are in conv2d.wgsl.

struct Params {
  B: u32, Cin: u32, H: u32, W: u32,
  Cout: u32, KH: u32, KW: u32, OH: u32,
  OW: u32, sh: u32, sw: u32, ph: u32,
  pw: u32, flags: u32, M: u32, N: u32,
  K: u32, offX: u32, offW: u32, offBias: u32,
  offY: u32, kSlice: u32, partStride: u32, offPart: u32,
}

const HAS_BIAS: u32 = 1u;
const ACCUMULATE: u32 = 2u;

@group(0) @binding(0) var<uniform> p: Params;
// Forward
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
// Backward: binding 1 is dy in both, at offY; conv2d_dx writes dx at offX, conv2d_dw reads x there.
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;
@group(0) @binding(2) var<storage, read> xb: array<f32>;
@group(0) @binding(3) var<storage, read_write> part: array<f32>;

fn inside(v: i32, n: u32) -> bool { return v >= 0 && v < i32(n); }

// Output (m, n) of the forward GEMM: y[b, m, oh, ow] with n = (b·OH + oh)·OW + ow (+ bias)
// (+ y with ACCUMULATE: read only then, a fresh output may hold anything, NaN included).
fn store_y(m: u32, n: u32, acc: f32) {
  let P = p.OH * p.OW;
  let at = p.offY + ((n / P) * p.Cout + m) * P + n % P;
  var v = acc;
  if ((p.flags & HAS_BIAS) != 0u) { v += bias[p.offBias + m]; }
  if ((p.flags & ACCUMULATE) != 0u) { v += y[at]; }
  y[at] = v;
}

// Output (m, n) of dx's GEMM: dx[b, m, ih, iw] with n = (b·H + ih)·W + iw.
fn store_dx(m: u32, n: u32, acc: f32) {
  let HW = p.H * p.W;
  let at = p.offX + ((n / HW) * p.Cin + m) * HW + n % HW;
  var v = acc;
  if ((p.flags & ACCUMULATE) != 0u) { v += dx[at]; }
  dx[at] = v;
}
