// conv2d_subgroups.wgsl — the conv2d passes (contracts: conv2d.wgsl; Params and bindings:
// conv2d_common.wgsl) with matmul_subgroups.wgsl's register layout: a subgroup computes TM rows
// x SG·TN columns, a lane TM x TN of them; per k, a lane loads TM/SG values of A (the weights,
// or dy for dw) and its TN gathered values of B, and subgroupBroadcast hands every lane the A
// values its neighbours loaded. On a software adapter (load-bound) that is what the 8x8
// register block of conv2d.wgsl lacks: 4 + 8 loads per 256 FMAs instead of 8 + 8 per 64.
// Indices past the edge are clamped so that every lane reaches the broadcasts.
enable subgroups;

//#include conv2d_common

const SG: u32 = 8u;    // the adapter's (fixed) subgroup size
const TM: u32 = 32u;   // rows per subgroup; a multiple of SG
const TN: u32 = 8u;    // columns per lane
const NSUB: u32 = 2u;  // subgroups per workgroup, side by side along n
const APL: u32 = TM / SG;

@compute @workgroup_size(SG * NSUB, 1, 1)
fn conv2d_fwd_sg(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32, @builtin(subgroup_invocation_id) lane: u32) {
  let mBase = wg.y * TM;
  let nBase = ((wg.x * NSUB + li / SG) * SG + lane) * TN;
  let cols = fwd_cols(nBase);
  var wrow: array<u32, APL>;
  for (var i = 0u; i < APL; i++) { wrow[i] = p.offW + min(mBase + lane * APL + i, p.M - 1u) * p.K; }
  var acc: array<array<f32, TN>, TM>;
  var k = 0u;
  for (var ci = 0u; ci < p.Cin; ci++) {
    for (var kh = 0u; kh < p.KH; kh++) {
      for (var kw = 0u; kw < p.KW; kw++) {
        var mine: array<f32, APL>;
        for (var i = 0u; i < APL; i++) { mine[i] = w[wrow[i] + k]; }
        let bv = fwd_gather(cols, ci, kh, kw);
        //#unroll L SG
        for (var i = 0u; i < APL; i++) {
          let av = subgroupBroadcast(mine[i], L);
          for (var j = 0u; j < TN; j++) { acc[L * APL + i][j] = fma(av, bv[j], acc[L * APL + i][j]); }
        }
        //#end
        k++;
      }
    }
  }
  fwd_store(mBase, nBase, acc);
}

@compute @workgroup_size(SG * NSUB, 1, 1)
fn conv2d_dx_sg(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32, @builtin(subgroup_invocation_id) lane: u32) {
  let mBase = wg.y * TM;
  let nBase = ((wg.x * NSUB + li / SG) * SG + lane) * TN;
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
  var wrow: array<u32, APL>;
  for (var i = 0u; i < APL; i++) { wrow[i] = p.offW + min(mBase + lane * APL + i, p.M - 1u) * KHW; }
  var acc: array<array<f32, TN>, TM>;
  for (var co = 0u; co < p.Cout; co++) {
    for (var th = 0u; th < ah.z; th++) {
      for (var tw = 0u; tw < aw.z; tw++) {
          let wk = co * p.Cin * KHW + (rh + th * p.sh) * p.KW + rw + tw * p.sw;
          var mine: array<f32, APL>;
          for (var i = 0u; i < APL; i++) { mine[i] = w[wrow[i] + wk]; }
          let bv = dx_gather(cols, co, th, tw);
          //#unroll L SG
          for (var i = 0u; i < APL; i++) {
            let av = subgroupBroadcast(mine[i], L);
            for (var j = 0u; j < TN; j++) { acc[L * APL + i][j] = fma(av, bv[j], acc[L * APL + i][j]); }
          }
          //#end
      }
    }
  }
  dx_store(cols, mBase, nBase, Q, rh, rw, acc);
}

@compute @workgroup_size(SG * NSUB, 1, 1)
fn conv2d_dw_sg(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32, @builtin(subgroup_invocation_id) lane: u32) {
  let mBase = wg.y * TM;
  let nBase = ((wg.x * NSUB + li / SG) * SG + lane) * TN;
  let P = p.OH * p.OW;
  let HW = p.H * p.W;
  let cols = dw_cols(nBase);
  var dyrow: array<u32, APL>;
  for (var i = 0u; i < APL; i++) { dyrow[i] = min(mBase + lane * APL + i, p.M - 1u) * P; }
  // The first subgroup of the first column block also sums the dy rows its lanes load: dbias.
  let rowSums = (p.flags & HAS_BIAS) != 0u && wg.x == 0u && li < SG;
  var rs: array<f32, APL>;
  var acc: array<array<f32, TN>, TM>;
  let k0 = wg.z * p.kSlice;
  let k1 = min(p.K, k0 + p.kSlice);
  var b = k0 / P;
  var oh = (k0 % P) / p.OW;
  var ow = k0 % p.OW;
  for (var k = k0; k < k1; k++) {
    let dy0 = p.offY + b * p.Cout * P + oh * p.OW + ow;
    let x0 = p.offX + b * p.Cin * HW;
    var mine: array<f32, APL>;
    for (var i = 0u; i < APL; i++) { mine[i] = dy[dy0 + dyrow[i]]; }
    if (rowSums) {
      for (var i = 0u; i < APL; i++) { rs[i] += mine[i]; }
    }
    let bv = dw_gather(cols, x0, oh, ow);
    //#unroll L SG
    for (var i = 0u; i < APL; i++) {
      let av = subgroupBroadcast(mine[i], L);
      for (var j = 0u; j < TN; j++) { acc[L * APL + i][j] = fma(av, bv[j], acc[L * APL + i][j]); }
    }
    //#end
    ow++;
    if (ow == p.OW) {
      ow = 0u;
      oh++;
      if (oh == p.OH) { oh = 0u; b++; }
    }
  }
  let s0 = p.offPart + wg.z * p.partStride;
  for (var r = 0u; r < TM; r++) {
    let m = mBase + r;
    if (m >= p.M) { continue; }
    for (var j = 0u; j < TN; j++) {
      let n = nBase + j;
      if (n < p.N) { part[s0 + m * p.N + n] = acc[r][j]; }
    }
  }
  if (rowSums) {
    for (var i = 0u; i < APL; i++) {
      let m = mBase + lane * APL + i;
      if (m < p.M) { part[s0 + p.M * p.N + m] = rs[i]; }
    }
  }
}
