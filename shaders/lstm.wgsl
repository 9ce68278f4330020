// lstm.wgsl — the LSTM cell update and its backward, one invocation per (batch row b, unit j).
// The gate pre-activations come from one matmul beforehand (kernels/lstm.ts: [x | h]·Wᵀ + b),
// laid out [B, 4H] as PyTorch orders them: input i, forget f, cell g, output o.
//
//   lstm_cell      i = σ(·), f = σ(·), g = tanh(·), o = σ(·) (written back over the
//                  pre-activations: the backward needs exactly these), c' = f·c + i·g,
//                  h' = o·tanh(c'). h' goes to h and, with H_INTO, also to a second place with a
//                  row stride of its own: the h half of the next step's [x | h] input, so that the
//                  next gates are again one matmul with no copy. No c (HAS_C off): c = 0.
//                  0 Params · 1 c (read) · 2 gates · 3 c' · 4 h' · 5 h' again (read_write)
//   lstm_cell_bwd  from the activations, c and the gradients reaching h' (dh, plus with
//                  DH_INTO a second strided share: the h half of the next step's d[x | h]) and c'
//                  (dc, HAS_DC): dc_t = dc + dh·o·(1 − tanh²c'), then the gate pre-activation
//                  gradients [di·i(1−i), df·f(1−f), dg·(1−g²), do·o(1−o)] with do = dh·tanh c',
//                  di = dc_t·g, df = dc_t·c, dg = dc_t·i; and dc_prev = dc_t·f.
//                  0 Params · 1 acts · 2 c · 3 dh · 4 dh again · 5 dc (read) · 6 dgates · 7 dc_prev (read_write)
// tanh is taken of its argument clamped to ±15 (tanh(15) rounds to 1 in f32): some backends
// build tanh from exp and return NaN past ~±89.

struct Params {
  B: u32, H: u32, flags: u32, ldInto: u32,
  offGates: u32, offC: u32, offCOut: u32, offH: u32,
  offInto: u32, offDh: u32, offDc: u32, offDcPrev: u32,
  pad0: u32, pad1: u32, pad2: u32, pad3: u32,
}

const HAS_C: u32 = 1u;
const H_INTO: u32 = 2u;
const HAS_DH: u32 = 4u;
const DH_INTO: u32 = 8u;
const HAS_DC: u32 = 16u;
const WG: u32 = 64u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> c_in: array<f32>;
@group(0) @binding(2) var<storage, read_write> gates: array<f32>;
@group(0) @binding(3) var<storage, read_write> c_out: array<f32>;
@group(0) @binding(4) var<storage, read_write> h_out: array<f32>;
@group(0) @binding(5) var<storage, read_write> h_into: array<f32>;
// Backward
@group(0) @binding(1) var<storage, read> acts: array<f32>;
@group(0) @binding(2) var<storage, read> c_b: array<f32>;
@group(0) @binding(3) var<storage, read> dh: array<f32>;
@group(0) @binding(4) var<storage, read> dh_into: array<f32>;
@group(0) @binding(5) var<storage, read> dc: array<f32>;
@group(0) @binding(6) var<storage, read_write> dgates: array<f32>;
@group(0) @binding(7) var<storage, read_write> dc_prev: array<f32>;

fn sigmoid(v: f32) -> f32 { return 1.0 / (1.0 + exp(-v)); }
fn tanh_safe(v: f32) -> f32 { return tanh(clamp(v, -15.0, 15.0)); }
fn flat(wg: vec3u, nwg: vec3u, lid: u32) -> u32 { return (wg.y * nwg.x + wg.x) * WG + lid; }

@compute @workgroup_size(WG, 1, 1)
fn lstm_cell(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let e = flat(wg, nwg, lid);
  if (e >= p.B * p.H) { return; }
  let b = e / p.H;
  let j = e % p.H;
  let g0 = p.offGates + b * 4u * p.H + j;
  let i = sigmoid(gates[g0]);
  let f = sigmoid(gates[g0 + p.H]);
  let g = tanh_safe(gates[g0 + 2u * p.H]);
  let o = sigmoid(gates[g0 + 3u * p.H]);
  gates[g0] = i;
  gates[g0 + p.H] = f;
  gates[g0 + 2u * p.H] = g;
  gates[g0 + 3u * p.H] = o;
  var c = 0.0;
  if ((p.flags & HAS_C) != 0u) { c = c_in[p.offC + e]; }
  let cn = fma(f, c, i * g);
  let h = o * tanh_safe(cn);
  c_out[p.offCOut + e] = cn;
  h_out[p.offH + e] = h;
  if ((p.flags & H_INTO) != 0u) { h_into[p.offInto + b * p.ldInto + j] = h; }
}

@compute @workgroup_size(WG, 1, 1)
fn lstm_cell_bwd(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let e = flat(wg, nwg, lid);
  if (e >= p.B * p.H) { return; }
  let b = e / p.H;
  let j = e % p.H;
  let g0 = p.offGates + b * 4u * p.H + j;
  let i = acts[g0];
  let f = acts[g0 + p.H];
  let g = acts[g0 + 2u * p.H];
  let o = acts[g0 + 3u * p.H];
  var c = 0.0;
  if ((p.flags & HAS_C) != 0u) { c = c_b[p.offC + e]; }
  let tc = tanh_safe(fma(f, c, i * g));
  var dht = 0.0;
  if ((p.flags & HAS_DH) != 0u) { dht = dh[p.offDh + e]; }
  if ((p.flags & DH_INTO) != 0u) { dht += dh_into[p.offInto + b * p.ldInto + j]; }
  var dct = dht * o * (1.0 - tc * tc);
  if ((p.flags & HAS_DC) != 0u) { dct += dc[p.offDc + e]; }
  let d0 = p.offCOut + b * 4u * p.H + j;
  dgates[d0] = dct * g * i * (1.0 - i);
  dgates[d0 + p.H] = dct * c * f * (1.0 - f);
  dgates[d0 + 2u * p.H] = dct * i * (1.0 - g * g);
  dgates[d0 + 3u * p.H] = dht * tc * o * (1.0 - o);
  dc_prev[p.offDcPrev + e] = dct * f;
}
