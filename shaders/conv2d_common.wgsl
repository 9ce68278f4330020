// conv2d_common.wgsl — what both conv2d variants share (included by conv2d.wgsl and
// conv2d_subgroups.wgsl through `//#include conv2d_common`): Params, the bindings of the three
// passes, the padding test, the stores, and the gathers of each pass's B operand (below). The
// passes' contracts are in conv2d.wgsl.

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

// The GEMMs' B operand is gathered, never stored: each pass first works out, for its TN columns
// (TN and TM are each variant's own constants), where a column's values come from, then per k
// gathers them. Both variants share these; they differ only in how A reaches the lanes.

// Forward column n = output pixel (b, oh, ow): its image and its receptive field's top-left corner.
struct FwdCols { xoff: array<u32, TN>, ih0: array<i32, TN>, iw0: array<i32, TN> }

fn fwd_cols(nBase: u32) -> FwdCols {
  let P = p.OH * p.OW;
  var c: FwdCols;
  for (var j = 0u; j < TN; j++) {
    let n = min(nBase + j, p.N - 1u);
    let r = n % P;
    c.xoff[j] = p.offX + (n / P) * p.Cin * p.H * p.W;
    c.ih0[j] = i32((r / p.OW) * p.sh) - i32(p.ph);
    c.iw0[j] = i32((r % p.OW) * p.sw) - i32(p.pw);
  }
  return c;
}

// B at k = (ci, kh, kw): x under each column's tap, zero in the padding.
fn fwd_gather(c: FwdCols, ci: u32, kh: u32, kw: u32) -> array<f32, TN> {
  var bv: array<f32, TN>;
  for (var j = 0u; j < TN; j++) {
    let ih = c.ih0[j] + i32(kh);
    let iw = c.iw0[j] + i32(kw);
    // Written on every path: a var declared in a loop body is not reliably zeroed on each
    // trip by every compiler (lavapipe kept the previous trip's value).
    var v = 0.0;
    if (inside(ih, p.H) && inside(iw, p.W)) { v = x[c.xoff[j] + (ci * p.H + u32(ih)) * p.W + u32(iw)]; }
    bv[j] = v;
  }
  return bv;
}

fn fwd_store(mBase: u32, nBase: u32, acc: array<array<f32, TN>, TM>) {
  for (var i = 0u; i < TM; i++) {
    for (var j = 0u; j < TN; j++) {
      if (mBase + i < p.M && nBase + j < p.N) { store_y(mBase + i, nBase + j, acc[i][j]); }
    }
  }
}

// dx column n of a stride phase with Q pixels an image (axes ah, aw from dx_axis): its image's
// dy and the pixel's quotients (qh, qw) within the phase.
struct DxCols { dyoff: array<u32, TN>, qh: array<u32, TN>, qw: array<u32, TN> }

fn dx_cols(nBase: u32, ah: vec3u, aw: vec3u) -> DxCols {
  let Q = ah.y * aw.y;
  var c: DxCols;
  for (var j = 0u; j < TN; j++) {
    let n = min(nBase + j, p.B * Q - 1u);
    let r = n % Q;
    c.dyoff[j] = p.offY + (n / Q) * p.Cout * p.OH * p.OW;
    c.qh[j] = ah.x + r / aw.y;
    c.qw[j] = aw.x + r % aw.y;
  }
  return c;
}

// B at k = (co, th, tw): dy at output (qh − th, qw − tw), zero where that is off the output.
fn dx_gather(c: DxCols, co: u32, th: u32, tw: u32) -> array<f32, TN> {
  var bv: array<f32, TN>;
  for (var j = 0u; j < TN; j++) {
    var v = 0.0;
    if (c.qh[j] >= th && c.qw[j] >= tw && c.qh[j] - th < p.OH && c.qw[j] - tw < p.OW) {
      v = dy[c.dyoff[j] + (co * p.OH + c.qh[j] - th) * p.OW + c.qw[j] - tw];
    }
    bv[j] = v;
  }
  return bv;
}

// Phase (rh, rw)'s pixel of column n is (ih, iw) = (qh·sh + rh − ph, qw·sw + rw − pw).
fn dx_store(c: DxCols, mBase: u32, nBase: u32, Q: u32, rh: u32, rw: u32, acc: array<array<f32, TN>, TM>) {
  for (var j = 0u; j < TN; j++) {
    let n = nBase + j;
    if (n >= p.B * Q) { continue; }
    let ih = c.qh[j] * p.sh + rh - p.ph;
    let iw = c.qw[j] * p.sw + rw - p.pw;
    for (var i = 0u; i < TM; i++) {
      if (mBase + i < p.M) { store_dx(mBase + i, n / Q, ih, iw, acc[i][j]); }
    }
  }
}

// dw column n = (ci, kh, kw): its input channel plane and its tap's offset from the output pixel.
struct DwCols { xc: array<u32, TN>, khs: array<i32, TN>, kws: array<i32, TN> }

fn dw_cols(nBase: u32) -> DwCols {
  let KHW = p.KH * p.KW;
  var c: DwCols;
  for (var j = 0u; j < TN; j++) {
    let n = min(nBase + j, p.N - 1u);
    let r = n % KHW;
    c.xc[j] = (n / KHW) * p.H * p.W;
    c.khs[j] = i32(r / p.KW) - i32(p.ph);
    c.kws[j] = i32(r % p.KW) - i32(p.pw);
  }
  return c;
}

// B at k = (b, oh, ow) (x0: image b's x): x under each column's tap, zero in the padding.
fn dw_gather(c: DwCols, x0: u32, oh: u32, ow: u32) -> array<f32, TN> {
  let ihb = i32(oh * p.sh);
  let iwb = i32(ow * p.sw);
  var bv: array<f32, TN>;
  for (var j = 0u; j < TN; j++) {
    let ih = ihb + c.khs[j];
    let iw = iwb + c.kws[j];
    var v = 0.0;
    if (inside(ih, p.H) && inside(iw, p.W)) { v = xb[x0 + c.xc[j] + u32(ih) * p.W + u32(iw)]; }
    bv[j] = v;
  }
  return bv;
}
