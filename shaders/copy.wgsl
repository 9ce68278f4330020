// copy.wgsl — strided block copy: for every batch b < B and row r < R,
//   dst[offD + b·bsD + r·rsD + c] (=|+=) src[offS + b·bsS + r·rsS + c]   for c < C.
// What the model needs to move sequences around without a transpose kernel per case: prepend
// a CLS token (src batch stride 0 broadcasts one row to every batch), take x[:, 1:] or
// x[:, :-1], concatenate along the sequence, and the backward of each (accumulating).
//
// With ADD, each copied element first gets add[offA + b·bsA + r·rsA + c] added (src + add): a
// concatenation that adds the position table in the same pass (bsA = 0 broadcasts it).
//
// Entry point: copy_rows, one invocation per element, 256 per workgroup over a 2-D grid.
// Bindings: 0 Params (uniform) · 1 src (read) · 2 dst (read_write) · 3 add (read, ADD only)

struct Params {
  B: u32, R: u32, C: u32, accumulate: u32,
  offS: u32, bsS: u32, rsS: u32, pad0: u32,
  offD: u32, bsD: u32, rsD: u32, pad1: u32,
  offA: u32, bsA: u32, rsA: u32, pad2: u32,
}

const ADD: bool = false;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;
//#if ADD
@group(0) @binding(3) var<storage, read> add: array<f32>;
//#end

@compute @workgroup_size(256, 1, 1)
fn copy_rows(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.y * nwg.x * 256u + gid.x;
  if (i >= p.B * p.R * p.C) { return; }
  let c = i % p.C;
  let r = (i / p.C) % p.R;
  let b = i / (p.C * p.R);
  var s = src[p.offS + b * p.bsS + r * p.rsS + c];
  //#if ADD
  s = s + add[p.offA + b * p.bsA + r * p.rsA + c];
  //#end
  let d = p.offD + b * p.bsD + r * p.rsD + c;
  if (p.accumulate != 0u) { dst[d] = dst[d] + s; } else { dst[d] = s; }
}
