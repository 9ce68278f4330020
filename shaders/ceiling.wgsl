// ceiling.wgsl — the device's arithmetic ceiling: FMAs only, no memory traffic in the loop.
// `coca bench` measures it in the same run as the kernels it reports, so a kernel's GFLOP/s can
// be read as a fraction of what this adapter can do at all, not of a datasheet number.
//
//   fma_peak  CHAINS independent vec4 FMA chains per invocation (enough to hide FMA latency),
//             ITERS rounds; one store at the end so the compiler cannot drop the work.
//             FLOPs = invocations · ITERS · CHAINS · 4 lanes · 2.
// Bindings (both entry points): 0 Params (uniform) · 1 src (read) · 2 dst (read_write).
// fma_peak writes one vec4 per invocation to dst and reads nothing.

struct Params { iters: u32, seed: f32, pad0: u32, pad1: u32, }

const CHAINS: u32 = 16u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> dst: array<vec4f>;

@compute @workgroup_size(64, 1, 1)
fn fma_peak(@builtin(global_invocation_id) gid: vec3u) {
  let x = vec4f(p.seed + f32(gid.x & 7u) * 1e-3);
  let m = vec4f(0.9999);
  var acc: array<vec4f, CHAINS>;
  for (var c = 0u; c < CHAINS; c++) { acc[c] = x + vec4f(f32(c) * 1e-4); }
  for (var i = 0u; i < p.iters; i++) {
    for (var c = 0u; c < CHAINS; c++) { acc[c] = fma(acc[c], m, x); }
  }
  var s = vec4f(0.0);
  for (var c = 0u; c < CHAINS; c++) { s += acc[c]; }
  dst[gid.x] = s;
}

// ---- memory ceiling ----------------------------------------------------------------------------
//   copy_peak  dst[i] = src[i] over vec4s: the bandwidth any memory-bound kernel can hope for.
//              Bytes = 2 · 16 · n (one read, one write per vec4).
//              Params.iters holds n, the number of vec4s.

@compute @workgroup_size(256, 1, 1)
fn copy_peak(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.y * nwg.x * 256u + gid.x;
  if (i < p.iters) { dst[i] = src[i]; }
}
