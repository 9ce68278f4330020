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

// dx works by stride phase (grid z = rh·sw + rw): the input pixels ih ≡ rh − ph (mod sh),
// iw likewise, are reached only by the taps kh ≡ rh (mod sh), kw ≡ rw (mod sw), so each phase
// runs a GEMM over those taps alone (K = Cout·⌈(KH − rh)/sh⌉·⌈(KW − rw)/sw⌉) rather than
// multiplying the others' zeros, and needs no division in its k loop. Along one axis, for
// residue r, padding pad, stride s, extent n and kernel k: (the first quotient q0 with
// q0·s + r ≥ pad, how many q from there keep q·s + r − pad < n, how many taps r + t·s < k).
// Pixel (q, ·) of the phase is ih = q·s + r − pad and receives tap t from output oh = q − t.
fn dx_axis(r: u32, pad: u32, s: u32, n: u32, k: u32) -> vec3u {
  let q0 = select(0u, (pad - r + s - 1u) / s, pad > r);
  let last = i32(n) - 1 + i32(pad) - i32(r);
  var count = 0u;
  if (last >= 0 && u32(last) / s >= q0) { count = u32(last) / s - q0 + 1u; }
  let taps = select(0u, (k - r + s - 1u) / s, k > r);
  return vec3u(q0, count, taps);
}

// dx[b, m, ih, iw] (+ dx with ACCUMULATE).
fn store_dx(m: u32, b: u32, ih: u32, iw: u32, acc: f32) {
  let at = p.offX + ((b * p.Cin + m) * p.H + ih) * p.W + iw;
  var v = acc;
  if ((p.flags & ACCUMULATE) != 0u) { v += dx[at]; }
  dx[at] = v;
}
