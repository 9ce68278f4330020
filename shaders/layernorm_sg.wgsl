// layernorm_sg.wgsl — layernorm.wgsl's kernels with one subgroup per workgroup and no barrier: a
// file of its own because it must start with `enable subgroups;` and layernorm.wgsl must not (it
// runs where subgroups are missing). Bindings, Params and the helpers are layernorm.wgsl's.
//
//   layernorm_fwd_sg  layernorm_fwd's arithmetic in its order (row_stats' two sums), bit for bit,
//                     in the layout below.
//   layernorm_bwd_sg  layernorm_bwd's arithmetic in its order, bit for bit: lane `lane` stands in
//                     for the WG/SG invocations t = lane + SG·u (u < VU) of layernorm_bwd, holding
//                     their vec4s; each t's partial row sum is taken as there, and the WG partials
//                     are folded from the first in t order through subgroupBroadcast, as row_sum
//                     folds them out of workgroup memory after a barrier. dγ and dβ partials are
//                     layernorm_bwd's too.
// On a software adapter a barrier suspends and resumes every subgroup of the workgroup, and each
// invocation folded the WG partials with a load apiece; here a row costs neither (the host's
// choice where the subgroup size is fixed and divides WG: kernels/layernorm.ts).
enable subgroups;

//#include layernorm

const SG: u32 = 8u;
const VU: u32 = WG / SG;

// row_sum's fold of the WG partials (partials[0] + partials[1] + … in t order), with invocation
// t = lane + SG·u's partial in lane `lane`, slot u of `s`.
fn fold_sg(s: array<vec2f, VU>) -> vec2f {
  var tot = vec2f(0.0);
  for (var u = 0u; u < VU; u++) {
    //#unroll L SG
    tot = select(tot + subgroupBroadcast(s[u], L), subgroupBroadcast(s[u], L), u == 0u && L == 0u);
    //#end
  }
  return tot;
}

// layernorm_fwd as one subgroup: row_stats' pieces and ln_fwd_core, for every t.
@compute @workgroup_size(SG, 1, 1)
fn layernorm_fwd_sg(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(subgroup_invocation_id) lane: u32) {
  var g: array<array<vec4f, VPT>, VU>;
  var b: array<array<vec4f, VPT>, VU>;
  for (var u = 0u; u < VU; u++) {
    g[u] = load_gamma(lane + SG * u);
    b[u] = load_beta(lane + SG * u);
  }
  let r0 = wg_index(wg, nwg) * p.rpw;
  for (var r = r0; r < min(p.rows, r0 + p.rpw); r++) {
    var v: array<array<vec4f, VPT>, VU>;
    var s: array<vec2f, VU>;
    for (var u = 0u; u < VU; u++) {
      v[u] = load_x(r, lane + SG * u);
      s[u] = vec2f(row_share_sum(v[u]), 0.0);
    }
    let mean = fold_sg(s).x / f32(p.cols);
    for (var u = 0u; u < VU; u++) {
      v[u] = row_centre(lane + SG * u, v[u], mean, p.cols);
      s[u] = vec2f(row_share_sq(v[u]), 0.0);
    }
    let rstd = row_rstd(fold_sg(s).x, p.cols, p.eps);
    for (var u = 0u; u < VU; u++) { store_y(r, lane + SG * u, ln_fwd_core(v[u], rstd, g[u], b[u])); }
    if (lane == 0u) { mean_out[p.offMean + r] = mean; rstd_out[p.offRstd + r] = rstd; }
  }
}

@compute @workgroup_size(SG, 1, 1)
fn layernorm_bwd_sg(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(subgroup_invocation_id) lane: u32) {
  var g: array<array<vec4f, VPT>, VU>;
  for (var u = 0u; u < VU; u++) { g[u] = load_gamma(lane + SG * u); }
  var a: array<Grads, VU>;
  let w = wg_index(wg, nwg);
  for (var r = w * p.rpw; r < min(p.rows, (w + 1u) * p.rpw); r++) {
    let mean = mean_in[p.offMean + r];
    let rstd = rstd_in[p.offRstd + r];
    var xh: array<array<vec4f, VPT>, VU>;
    var d: array<array<vec4f, VPT>, VU>;
    var s: array<vec2f, VU>;
    for (var u = 0u; u < VU; u++) {
      let t = lane + SG * u;
      xh[u] = ln_xhat(t, load_x(r, t), mean, rstd);
      d[u] = load_dy(r, t);
      a[u] = ln_bwd_add(a[u], xh[u], d[u]);
      s[u] = ln_bwd_shares(xh[u], d[u], g[u]);
    }
    let m = fold_sg(s) / f32(p.cols);
    for (var u = 0u; u < VU; u++) { store_dx(r, lane + SG * u, ln_bwd_dx(rstd, m, xh[u], d[u], g[u])); }
  }
  if (w < p.nwg) {
    for (var u = 0u; u < VU; u++) { store_partials(lane + SG * u, w, a[u]); }
  }
}
