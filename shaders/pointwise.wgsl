// pointwise.wgsl — elementwise ops over flat float32 ranges: z = f(x, y) with y optionally
// broadcast along rows (bias), and the same ops in place (x = f(x, y), the residual add).
//
// Entry points, each built twice by the VEC4 define (//#if VEC4, src/gpu/shaders.ts): over vec4s,
// or over scalars from index p.base (kernels/pointwise.ts picks by alignment: vec4 when every
// offset is a multiple of 4 elements, then scalar for the n % 4 tail; scalar for everything
// otherwise). The vec4 build starts at p.base = 0.
//   pw    z = f(x, y)
//   pwi   x = f(x, y), in place
// The op is a uniform, not a define, so every op shares these four pipelines: the branch is
// uniform across the dispatch and costs nothing next to the loads, which bound this family.
//
// Bindings, pw:  0 Params (uniform) · 1 x (read) · 2 y (read) · 3 z (read_write)
// Bindings, pwi: 0 Params (uniform) · 1 y (read) · 2 x (read_write)
// Ops: 0 AXPBY z = α·x + β·y (add, sub)  1 MUL z = α·x·y  2 SCALE z = α·x (y unread)
//      3 GELU z = x·Φ(x) (y unread)      4 GELU_BWD z = y·GELU'(x) (y = upstream gradient)
// y is read at index i, or i % p.ymod when p.ymod > 0 (a bias of ymod elements per row).
// Offsets and ymod are in the build's units (vec4s or floats). apply() works on vec4s; the
// scalar build widens each element to a vec4 and keeps lane x.

struct Params {
  n: u32, base: u32, op: u32, ymod: u32,
  offX: u32, offY: u32, offZ: u32, pad0: u32,
  alpha: f32, beta: f32, pad1: u32, pad2: u32,
}

const WG: u32 = 256u;
const OP_AXPBY: u32 = 0u;
const OP_MUL: u32 = 1u;
const OP_SCALE: u32 = 2u;
const OP_GELU: u32 = 3u;
const OP_GELU_BWD: u32 = 4u;
const VEC4: bool = true;

// Bindings 1 and 2 each hold two variables, the out-of-place and the in-place view (x moves to
// binding 2 and becomes writable there): WGSL allows several variables on one binding as long as
// no entry point uses two of them, and a pipeline binds only what its entry point uses.
@group(0) @binding(0) var<uniform> p: Params;
//#if VEC4
@group(0) @binding(1) var<storage, read> xs: array<vec4f>;
@group(0) @binding(2) var<storage, read> ys: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> zs: array<vec4f>;
@group(0) @binding(1) var<storage, read> iys: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> ixs: array<vec4f>;
fn widen(v: vec4f) -> vec4f { return v; }
fn narrow(v: vec4f) -> vec4f { return v; }
//#else
@group(0) @binding(1) var<storage, read> xs: array<f32>;
@group(0) @binding(2) var<storage, read> ys: array<f32>;
@group(0) @binding(3) var<storage, read_write> zs: array<f32>;
@group(0) @binding(1) var<storage, read> iys: array<f32>;
@group(0) @binding(2) var<storage, read_write> ixs: array<f32>;
fn widen(v: f32) -> vec4f { return vec4f(v); }
fn narrow(v: vec4f) -> f32 { return v.x; }
//#end

// erfc(z) after Numerical Recipes' erfcc (Chebyshev fit): relative error < 1.2e-7 over the whole
// line, so Φ(x) = erfc(-x/√2)/2 stays accurate deep in the negative tail, where 1 + erf(·)
// (and Abramowitz-Stegun 7.1.26's 1.5e-7 absolute bound) would lose every digit.
fn erfc4(z: vec4f) -> vec4f {
  let a = abs(z);
  let t = 1.0 / (1.0 + 0.5 * a);
  var q = fma(t, vec4f(0.17087277), vec4f(-0.82215223));
  q = fma(t, q, vec4f(1.48851587));
  q = fma(t, q, vec4f(-1.13520398));
  q = fma(t, q, vec4f(0.27886807));
  q = fma(t, q, vec4f(-0.18628806));
  q = fma(t, q, vec4f(0.09678418));
  q = fma(t, q, vec4f(0.37409196));
  q = fma(t, q, vec4f(1.00002368));
  q = fma(t, q, vec4f(-1.26551223));
  let r = t * exp(q - a * a);
  return select(2.0 - r, r, z >= vec4f(0.0));
}

// Standard normal CDF Φ(x) = erfc(-x/√2)/2; GELU(x) = x·Φ(x) (PyTorch's exact form).
fn phi4(x: vec4f) -> vec4f { return 0.5 * erfc4(x * -0.70710678118654752); }

fn apply(x: vec4f, y: vec4f) -> vec4f {
  switch p.op {
    case OP_AXPBY: { return p.alpha * x + p.beta * y; }
    case OP_MUL: { return p.alpha * x * y; }
    case OP_SCALE: { return p.alpha * x; }
    case OP_GELU: { return x * phi4(x); }
    // GELU'(x) = Φ(x) + x·φ(x), φ the standard normal density.
    case OP_GELU_BWD: { return y * (phi4(x) + x * 0.39894228040143268 * exp(-0.5 * x * x)); }
    default: { return vec4f(0.0); }
  }
}

fn reads_y() -> bool { return p.op == OP_AXPBY || p.op == OP_MUL || p.op == OP_GELU_BWD; }

fn yindex(i: u32) -> u32 {
  if (p.ymod > 0u) { return i % p.ymod; }
  return i;
}

// Linear invocation index over a 2-D grid (a flat range can need more than 65535 workgroups).
fn linear(gid: vec3u, nwg: vec3u) -> u32 { return gid.y * nwg.x * WG + gid.x; }

@compute @workgroup_size(WG, 1, 1)
fn pw(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = p.base + linear(gid, nwg);
  if (i >= p.n) { return; }
  var y = vec4f(0.0);
  if (reads_y()) { y = widen(ys[p.offY + yindex(i)]); }
  zs[p.offZ + i] = narrow(apply(widen(xs[p.offX + i]), y));
}

@compute @workgroup_size(WG, 1, 1)
fn pwi(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = p.base + linear(gid, nwg);
  if (i >= p.n) { return; }
  var y = vec4f(0.0);
  if (reads_y()) { y = widen(iys[p.offY + yindex(i)]); }
  ixs[p.offX + i] = narrow(apply(widen(ixs[p.offX + i]), y));
}
