// softmax.wgsl — y = softmax(scale·x) over the last axis of a row-major [rows, cols] float32
// matrix, and its backward dx = scale · y ⊙ (dy − Σ_c y·dy). Run by `coca bench softmax` only
// (kernels/softmax.ts says why).
//
// Entry points, each built twice by the VEC4 define (//#if VEC4 in src/gpu/shaders.ts): vec4
// loads and stores when cols and every offset are multiples of 4, scalar ones otherwise:
//   softmax_fwd   Bindings: 0 Params · 1 x (read) · 2 unused · 3 y (read_write)
//   softmax_bwd   Bindings: 0 Params · 1 y (read) · 2 dy (read) · 3 dx (read_write)
// A workgroup of WG invocations walks p.rpw consecutive rows. Invocation t holds vec4s
// t, t + WG, … (VPT of them) of the row in registers, so x is read once and y written once.
// Row-wide max and sum: every invocation stores its partial, one barrier, then every invocation
// folds all WG partials in the same order. That is deterministic and costs one barrier per
// reduction instead of a tree's log2(WG) + 1 (a barrier is ~1 µs on lavapipe); partials
// alternate between two banks so a bank is never rewritten before everyone has read it.
// A row of −∞ (max = −∞) gives y = 0, not NaN.

struct Params {
  rows: u32, cols: u32, rpw: u32, pad0: u32,
  offA: u32, offB: u32, offOut: u32, scale: f32,
}

const WG: u32 = 16u;
const VPT: u32 = 4u;
const VEC4: bool = true;

// Each binding is declared twice, as f32 and as vec4f elements: the VEC4 entry points use the
// vec4 view, the scalar ones the f32 view, and an entry point binds only what it uses (so the two
// views of a binding never meet in one pipeline).
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> in0s: array<f32>;
@group(0) @binding(1) var<storage, read> in0v: array<vec4f>;
@group(0) @binding(2) var<storage, read> in1s: array<f32>;
@group(0) @binding(2) var<storage, read> in1v: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> outs: array<f32>;
@group(0) @binding(3) var<storage, read_write> outv: array<vec4f>;

var<workgroup> partials: array<f32, 2 * WG>;

// −∞ as a runtime value (a constant one is a compile error); p.pad0 is always 0.
fn neg_inf() -> f32 { return bitcast<f32>(0xff800000u | p.pad0); }

// Row-wide max or sum of `v` over the workgroup; `bank` alternates 0, 1 between calls.
fn wg_reduce(tid: u32, v: f32, bank: u32, is_max: bool) -> f32 {
  partials[bank * WG + tid] = v;
  workgroupBarrier();
  var acc = partials[bank * WG];
  for (var i = 1u; i < WG; i++) {
    let q = partials[bank * WG + i];
    acc = select(acc + q, max(acc, q), is_max);
  }
  return acc;
}

// First column of the invocation's k-th vec4.
fn col(tid: u32, k: u32) -> u32 { return 4u * (tid + k * WG); }

// The softmax of the row in `v` (entries past the row already −∞), in place. Both reductions
// always run, rows of −∞ included, so every row costs the same two barriers in the same banks.
fn softmax_core(tid: u32, v: ptr<function, array<vec4f, VPT>>) {
  var m = neg_inf();
  for (var k = 0u; k < VPT; k++) { m = max(m, max(max((*v)[k].x, (*v)[k].y), max((*v)[k].z, (*v)[k].w))); }
  m = wg_reduce(tid, m, 0u, true);
  let dead = m == neg_inf(); // −∞ − (−∞) is NaN: a row of −∞ must not reach exp
  var s = 0.0;
  for (var k = 0u; k < VPT; k++) {
    (*v)[k] = select(exp((*v)[k] - m), vec4f(0.0), dead);
    s += ((*v)[k].x + (*v)[k].y) + ((*v)[k].z + (*v)[k].w);
  }
  s = wg_reduce(tid, s, 1u, false);
  // s ≥ 1 (the max contributes e⁰) unless the row is dead.
  let inv = select(1.0 / s, 0.0, dead);
  for (var k = 0u; k < VPT; k++) { (*v)[k] *= inv; }
}

// dx = scale · y ⊙ (dy − Σ y·dy), in place in `y`. One reduction per row, so the bank
// alternates with the row's parity.
fn softmax_bwd_core(tid: u32, r: u32, y: ptr<function, array<vec4f, VPT>>, dy: ptr<function, array<vec4f, VPT>>) {
  var s = 0.0;
  for (var k = 0u; k < VPT; k++) { s += dot((*y)[k], (*dy)[k]); }
  s = wg_reduce(tid, s, r & 1u, false);
  for (var k = 0u; k < VPT; k++) { (*y)[k] = p.scale * (*y)[k] * ((*dy)[k] - s); }
}

fn first_row(wg: vec3u, nwg: vec3u) -> u32 { return (wg.y * nwg.x + wg.x) * p.rpw; }

// Rows are walked with a bound that depends on the workgroup alone, so the barriers inside
// stay in uniform control flow.
@compute @workgroup_size(WG, 1, 1)
fn softmax_fwd(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) tid: u32) {
  let r0 = first_row(wg, nwg);
  for (var r = r0; r < min(p.rows, r0 + p.rpw); r++) {
    var v: array<vec4f, VPT>;
    for (var k = 0u; k < VPT; k++) {
      let c = col(tid, k);
      v[k] = vec4f(neg_inf());
//#if VEC4
      if (c < p.cols) { v[k] = p.scale * in0v[(p.offA + r * p.cols + c) / 4u]; }
//#else
      for (var i = 0u; i < 4u; i++) {
        if (c + i < p.cols) { v[k][i] = p.scale * in0s[p.offA + r * p.cols + c + i]; }
      }
//#end
    }
    softmax_core(tid, &v);
    for (var k = 0u; k < VPT; k++) {
      let c = col(tid, k);
//#if VEC4
      if (c < p.cols) { outv[(p.offOut + r * p.cols + c) / 4u] = v[k]; }
//#else
      for (var i = 0u; i < 4u; i++) {
        if (c + i < p.cols) { outs[p.offOut + r * p.cols + c + i] = v[k][i]; }
      }
//#end
    }
  }
}

@compute @workgroup_size(WG, 1, 1)
fn softmax_bwd(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) tid: u32) {
  let r0 = first_row(wg, nwg);
  for (var r = r0; r < min(p.rows, r0 + p.rpw); r++) {
    var y: array<vec4f, VPT>;
    var dy: array<vec4f, VPT>;
    for (var k = 0u; k < VPT; k++) {
      let c = col(tid, k);
//#if VEC4
      if (c < p.cols) {
        y[k] = in0v[(p.offA + r * p.cols + c) / 4u];
        dy[k] = in1v[(p.offB + r * p.cols + c) / 4u];
      }
//#else
      for (var i = 0u; i < 4u; i++) {
        if (c + i < p.cols) {
          y[k][i] = in0s[p.offA + r * p.cols + c + i];
          dy[k][i] = in1s[p.offB + r * p.cols + c + i];
        }
      }
//#end
    }
    softmax_bwd_core(tid, r, &y, &dy);
    for (var k = 0u; k < VPT; k++) {
      let c = col(tid, k);
//#if VEC4
      if (c < p.cols) { outv[(p.offOut + r * p.cols + c) / 4u] = y[k]; }
//#else
      for (var i = 0u; i < 4u; i++) {
        if (c + i < p.cols) { outs[p.offOut + r * p.cols + c + i] = y[k][i]; }
      }
//#end
    }
  }
}
