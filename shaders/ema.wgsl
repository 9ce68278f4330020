// ema.wgsl — an exponential moving average of one flat buffer towards another: the trainer's
// average of the weights (src/train/ema.ts), one dispatch per arena chunk after AdamW's update.
//
// Entry point: ema_update, over elements [offset, offset + n), four per invocation:
//   ema ← ema + w·(src − ema),   w = 1 − decay (torch's ema.lerp_(src, 1 − decay), as timm's
//                                 ModelEmaV3 writes it)
// as fma(src − ema, w, ema): an element whose source has not moved since (a frozen image tower,
// the arena's zero padding) keeps its value exactly, src − ema being 0.
//
// Bindings: 0 Params (uniform) · 1 ema (read_write) · 2 src (read)
// Invocations are numbered across a 2-D grid (x + y·nwg.x workgroups): one dimension holds ≤ 65535.

struct Params { n: u32, offset: u32, weight: f32, pad: u32 }

const WG: u32 = 64u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> ema: array<f32>;
@group(0) @binding(2) var<storage, read> src: array<f32>;

@compute @workgroup_size(WG, 1, 1)
fn ema_update(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let k = 4u * ((wg.y * nwg.x + wg.x) * WG + lid);
  if (k >= p.n) { return; }
  for (var i = p.offset + k; i < p.offset + min(k + 4u, p.n); i++) {
    let e = ema[i];
    ema[i] = fma(src[i] - e, p.weight, e);
  }
}
