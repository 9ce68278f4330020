// pool.wgsl — pooling over NCHW float32 tensors, seen as B·C planes of H x W.
//
//   maxpool_fwd   y[plane, oh, ow] = max over the window at (oh·sh − ph, ow·sw − pw), KH x KW,
//                 padding never chosen (PyTorch's −∞ padding); idx = ih·W + iw of the first
//                 maximum in scan order (PyTorch's return_indices). One invocation per output,
//                 8 x 8·RPI of them per workgroup over (ow, oh), grid z = plane.
//                 0 Params · 1 x (read) · 2 y · 3 idx (read_write)
//   maxpool_bwd   dx[plane, ih, iw] = Σ dy[plane, oh, ow] over the outputs whose window holds
//                 (ih, iw) and whose idx points at it: a gather over at most ⌈KH/sh⌉·⌈KW/sw⌉
//                 outputs per input, so no atomics and the same bits on every run. dx += with
//                 ACCUMULATE. One invocation per input, 8 x 8·RPI per workgroup over (iw, ih), z = plane.
//                 0 Params · 1 dy · 2 idx (read) · 3 dx (read_write)
//   gap_fwd       y[plane] = mean of the plane (global average pool): one workgroup per plane,
//                 strided partial sums folded in a fixed order.
//                 0 Params · 1 x (read) · 2 y (read_write)
//   gap_bwd       dx[plane, i] = dy[plane]/(H·W) (+ dx with ACCUMULATE). One invocation per input,
//                 grid x = chunk of 64·EPT in the plane, y (+ z·nwg.y) = plane.
//                 0 Params · 1 dy (read) · 2 dx (read_write)
// Pixel coordinates come from the grid, not from dividing a flat index: a software adapter has
// no vector integer division and runs one per lane.

struct Params {
  planes: u32, H: u32, W: u32, OH: u32,
  OW: u32, KH: u32, KW: u32, sh: u32,
  sw: u32, ph: u32, pw: u32, flags: u32,
  n: u32, offIn: u32, offOut: u32, offIdx: u32,
}

const ACCUMULATE: u32 = 1u;
const WG: u32 = 64u;
// Work per invocation: rows of outputs (max pooling) and elements (gap_bwd). A software adapter
// pays microseconds per workgroup; one element per invocation left the elementwise passes at a
// fraction of a copy's speed.
const RPI: u32 = 4u;
const EPT: u32 = 16u;

@group(0) @binding(0) var<uniform> p: Params;
// maxpool_fwd, gap_fwd
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> idx_out: array<u32>;
// maxpool_bwd, gap_bwd
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> idx_in: array<u32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx_gap: array<f32>;

fn maxpool_one(plane: u32, oh: u32, ow: u32) {
  let o = (plane * p.OH + oh) * p.OW + ow;
  let x0 = p.offIn + plane * p.H * p.W;
  let ih0 = i32(oh * p.sh) - i32(p.ph);
  let iw0 = i32(ow * p.sw) - i32(p.pw);
  // The window always holds a real pixel (padding ≤ half the kernel, checked by the host).
  var best = 0.0;
  var at = 0xffffffffu;
  for (var kh = 0u; kh < p.KH; kh++) {
    let ih = ih0 + i32(kh);
    if (ih < 0 || ih >= i32(p.H)) { continue; }
    for (var kw = 0u; kw < p.KW; kw++) {
      let iw = iw0 + i32(kw);
      if (iw < 0 || iw >= i32(p.W)) { continue; }
      let i = u32(ih) * p.W + u32(iw);
      let v = x[x0 + i];
      if (at == 0xffffffffu || v > best) { best = v; at = i; }
    }
  }
  y[p.offOut + o] = best;
  idx_out[p.offIdx + o] = at;
}

@compute @workgroup_size(8, 8, 1)
fn maxpool_fwd(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let ow = wg.x * 8u + lid.x;
  for (var r = 0u; r < RPI; r++) {
    let oh = wg.y * 8u * RPI + r * 8u + lid.y;
    if (ow < p.OW && oh < p.OH) { maxpool_one(wg.z, oh, ow); }
  }
}

fn maxpool_bwd_one(plane: u32, y: u32, x: u32) {
  let i = y * p.W + x;
  let e = plane * p.H * p.W + i;
  let ih = y + p.ph;
  let iw = x + p.pw;
  // Outputs oh with oh·sh ≤ ih + ph < oh·sh + KH, likewise ow.
  let oh1 = min(ih / p.sh + 1u, p.OH);
  let ow1 = min(iw / p.sw + 1u, p.OW);
  let oh0 = select(0u, (ih + 1u - p.KH + p.sh - 1u) / p.sh, ih + 1u > p.KH);
  let ow0 = select(0u, (iw + 1u - p.KW + p.sw - 1u) / p.sw, iw + 1u > p.KW);
  let o0 = plane * p.OH * p.OW;
  var s = 0.0;
  for (var oh = oh0; oh < oh1; oh++) {
    for (var ow = ow0; ow < ow1; ow++) {
      let o = o0 + oh * p.OW + ow;
      if (idx_in[p.offIdx + o] == i) { s += dy[p.offIn + o]; }
    }
  }
  let at = p.offOut + e;
  if ((p.flags & ACCUMULATE) != 0u) { s += dx[at]; }
  dx[at] = s;
}

@compute @workgroup_size(8, 8, 1)
fn maxpool_bwd(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let x = wg.x * 8u + lid.x;
  for (var r = 0u; r < RPI; r++) {
    let y = wg.y * 8u * RPI + r * 8u + lid.y;
    if (x < p.W && y < p.H) { maxpool_bwd_one(wg.z, y, x); }
  }
}

var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG, 1, 1)
fn gap_fwd(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  // The plane depends on the workgroup alone: the barrier below stays in uniform control flow.
  let plane = wg.y * nwg.x + wg.x;
  let HW = p.H * p.W;
  let x0 = p.offIn + min(plane, p.planes - 1u) * HW;
  var s = 0.0;
  for (var i = lid; i < HW; i += WG) { s += x[x0 + i]; }
  partial[lid] = s;
  workgroupBarrier();
  if (lid == 0u && plane < p.planes) {
    var t = 0.0;
    for (var j = 0u; j < WG; j++) { t += partial[j]; }
    y[p.offOut + plane] = t / f32(HW);
  }
}

@compute @workgroup_size(WG, 1, 1)
fn gap_bwd(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let plane = wg.z * nwg.y + wg.y;
  let HW = p.H * p.W;
  if (plane >= p.planes) { return; }
  let g = dy[p.offIn + plane] / f32(HW);
  for (var k = 0u; k < EPT; k++) {
    let i = (wg.x * EPT + k) * WG + lid;
    if (i >= HW) { return; }
    var v = g;
    let at = p.offOut + plane * HW + i;
    if ((p.flags & ACCUMULATE) != 0u) { v += dx_gap[at]; }
    dx_gap[at] = v;
  }
}
