// copy.wgsl — strided block copy: for every batch b < B and row r < R,
//   dst[offD + b·bsD + r·rsD + c] (=|+=) src[offS + b·bsS + r·rsS + c]   for c < C.
// What the model needs to move sequences around without a transpose kernel per case: prepend
// a CLS token (src batch stride 0 broadcasts one row to every batch), take x[:, 1:] or
// x[:, :-1], concatenate along the sequence, and the backward of each (accumulating).
//
// Entry point: copy_rows, one invocation per element, 256 per workgroup over a 2-D grid.
// Bindings: 0 Params (uniform) · 1 src (read) · 2 dst (read_write)

struct Params {
  B: u32, R: u32, C: u32, accumulate: u32,
  offS: u32, bsS: u32, rsS: u32, pad0: u32,
  offD: u32, bsD: u32, rsD: u32, pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(256, 1, 1)
fn copy_rows(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.y * nwg.x * 256u + gid.x;
  if (i >= p.B * p.R * p.C) { return; }
  let c = i % p.C;
  let r = (i / p.C) % p.R;
  let b = i / (p.C * p.R);
  let s = src[p.offS + b * p.bsS + r * p.rsS + c];
  let d = p.offD + b * p.bsD + r * p.rsD + c;
  if (p.accumulate != 0u) { dst[d] = dst[d] + s; } else { dst[d] = s; }
}
