// conv2d.wgsl — 2-D convolution (stride, zero padding) as an implicit GEMM over NCHW float32
// tensors, and its backward. Nothing is unfolded into memory: each GEMM operand element is
// gathered from the tensor it stands for when the k loop needs it.
//
//   x [B, Cin, H, W] · w [Cout, Cin, KH, KW] (+ bias [Cout]) → y [B, Cout, OH, OW]
//   OH = (H + 2·ph − KH)/sh + 1, likewise OW.
//
// Entry points, each a GEMM with TMxTN outputs per invocation straight from storage (the
// register block of matmul.wgsl's regblock: on a software adapter every load is a gather and FMAs
// per load is what counts), an 8x8 workgroup covering a (8·TM)x(8·TN) tile:
//   conv2d_fwd  M = Cout, N = B·OH·OW, K = Cin·KH·KW: A = w (its rows as stored), B = the
//               receptive fields of x. y = A·B (+ bias) (+ y with ACCUMULATE).
//               0 Params · 1 x · 2 w · 3 bias (read) · 4 y (read_write)
//   conv2d_dx   dx[b, ci, ih, iw] = Σ w[co, ci, kh, kw] · dy[b, co, oh, ow] over the (kh, kw)
//               whose output oh = (ih + ph − kh)/sh is whole and in range: one GEMM per stride
//               phase (grid z; conv2d_common.wgsl, dx_axis), M = Cin, N = the phase's pixels,
//               K = Cout · the taps that reach them. Written as a gather (each dx element summed
//               by one invocation), so no atomics and the same bits on every run. dx += with
//               ACCUMULATE.
//               0 Params · 1 dy · 2 w (read) · 3 dx (read_write)
//   conv2d_dw   M = Cout, N = Cin·KH·KW, K = B·OH·OW, split over workgroups along K (grid z =
//               slice) when M·N alone makes too few of them: slice s writes its partial dw into
//               part[offPart + s·partStride + m·N + n], and with HAS_BIAS the row sums of dy
//               (dbias) after it, at [.. + M·N + m], from the dy values it loads anyway;
//               kernels/conv2d.ts folds slices with the reduce family's column kernel (fixed
//               order: deterministic).
//               0 Params · 1 dy · 2 x (read) · 3 part (read_write)
// Indices past the tile's edge are clamped, not branched on: the loads stay in bounds and the
// extra results are not stored. Padding reads as zero.

//#include conv2d_common

const TM: u32 = 8u;
const TN: u32 = 8u;

@compute @workgroup_size(8, 8, 1)
fn conv2d_fwd(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let mBase = (wg.y * 8u + lid.y) * TM;
  let nBase = (wg.x * 8u + lid.x) * TN;
  let cols = fwd_cols(nBase);
  var wrow: array<u32, TM>;
  for (var i = 0u; i < TM; i++) { wrow[i] = p.offW + min(mBase + i, p.M - 1u) * p.K; }
  var acc: array<array<f32, TN>, TM>;
  var k = 0u;
  for (var ci = 0u; ci < p.Cin; ci++) {
    for (var kh = 0u; kh < p.KH; kh++) {
      for (var kw = 0u; kw < p.KW; kw++) {
        var a: array<f32, TM>;
        for (var i = 0u; i < TM; i++) { a[i] = w[wrow[i] + k]; }
        let bv = fwd_gather(cols, ci, kh, kw);
        for (var i = 0u; i < TM; i++) {
          for (var j = 0u; j < TN; j++) { acc[i][j] = fma(a[i], bv[j], acc[i][j]); }
        }
        k++;
      }
    }
  }
  fwd_store(mBase, nBase, acc);
}

@compute @workgroup_size(8, 8, 1)
fn conv2d_dx(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let mBase = (wg.y * 8u + lid.y) * TM;
  let nBase = (wg.x * 8u + lid.x) * TN;
  let KHW = p.KH * p.KW;
  // This workgroup's stride phase (shaders/conv2d_common.wgsl, dx_axis).
  let rh = wg.z / p.sw;
  let rw = wg.z % p.sw;
  let ah = dx_axis(rh, p.ph, p.sh, p.H, p.KH);
  let aw = dx_axis(rw, p.pw, p.sw, p.W, p.KW);
  let Q = ah.y * aw.y;
  // A phase with no pixels (a stride past the image): the whole workgroup leaves together.
  if (Q == 0u) { return; }
  let cols = dx_cols(nBase, ah, aw);
  var wrow: array<u32, TM>;
  for (var i = 0u; i < TM; i++) { wrow[i] = p.offW + min(mBase + i, p.M - 1u) * KHW; }
  var acc: array<array<f32, TN>, TM>;
  for (var co = 0u; co < p.Cout; co++) {
    for (var th = 0u; th < ah.z; th++) {
      for (var tw = 0u; tw < aw.z; tw++) {
        let wk = co * p.Cin * KHW + (rh + th * p.sh) * p.KW + rw + tw * p.sw;
        var a: array<f32, TM>;
        for (var i = 0u; i < TM; i++) { a[i] = w[wrow[i] + wk]; }
        let bv = dx_gather(cols, co, th, tw);
        for (var i = 0u; i < TM; i++) {
          for (var j = 0u; j < TN; j++) { acc[i][j] = fma(a[i], bv[j], acc[i][j]); }
        }
      }
    }
  }
  dx_store(cols, mBase, nBase, Q, rh, rw, acc);
}

@compute @workgroup_size(8, 8, 1)
fn conv2d_dw(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let mBase = (wg.y * 8u + lid.y) * TM;
  let nBase = (wg.x * 8u + lid.x) * TN;
  let P = p.OH * p.OW;
  let HW = p.H * p.W;
  let cols = dw_cols(nBase);
  var dyrow: array<u32, TM>;
  for (var i = 0u; i < TM; i++) { dyrow[i] = min(mBase + i, p.M - 1u) * P; }
  // The first column block also sums its rows of dy: the bias gradient.
  let rowSums = (p.flags & HAS_BIAS) != 0u && nBase == 0u;
  var rs: array<f32, TM>;
  var acc: array<array<f32, TN>, TM>;
  let k0 = wg.z * p.kSlice;
  let k1 = min(p.K, k0 + p.kSlice);
  // k = (b·OH + oh)·OW + ow, walked with carries rather than divided each step.
  var b = k0 / P;
  var oh = (k0 % P) / p.OW;
  var ow = k0 % p.OW;
  for (var k = k0; k < k1; k++) {
    let dy0 = p.offY + b * p.Cout * P + oh * p.OW + ow;
    let x0 = p.offX + b * p.Cin * HW;
    var a: array<f32, TM>;
    for (var i = 0u; i < TM; i++) { a[i] = dy[dy0 + dyrow[i]]; }
    let bv = dw_gather(cols, x0, oh, ow);
    for (var i = 0u; i < TM; i++) {
      for (var j = 0u; j < TN; j++) { acc[i][j] = fma(a[i], bv[j], acc[i][j]); }
    }
    if (rowSums) {
      for (var i = 0u; i < TM; i++) { rs[i] += a[i]; }
    }
    ow++;
    if (ow == p.OW) {
      ow = 0u;
      oh++;
      if (oh == p.OH) { oh = 0u; b++; }
    }
  }
  let s0 = p.offPart + wg.z * p.partStride;
  for (var i = 0u; i < TM; i++) {
    let m = mBase + i;
    if (m >= p.M) { continue; }
    for (var j = 0u; j < TN; j++) {
      let n = nBase + j;
      if (n < p.N) { part[s0 + m * p.N + n] = acc[i][j]; }
    }
    if (rowSums) { part[s0 + p.M * p.N + m] = rs[i]; }
  }
}
