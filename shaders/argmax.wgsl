// argmax.wgsl — greedy decoding's pick on the device: for each row n of logits [N, V], the first
// index of the largest value after the search's masks, so the next decoding step can read its
// token from a GPU buffer instead of waiting for the CPU (src/infer/greedy-device.ts).
//
// The masks are those of src/infer/search.ts adjust() without the repetition penalty (the caller
// keeps such searches on the CPU): pad, [SOT] (unless it may be generated), the banned ids, and
// [EOT] while the caption is shorter than min-len. A row whose previous token was [EOT] is done
// and gets [EOT] again, as the CPU loop feeds it. Ties go to the lower id, as the CPU loop's strict
// `>` scan from id 0 does; so on rows without NaN the pick is the CPU's, bit for bit. (With NaNs
// the two may differ; the CPU checks every pick against the logits it reads back.)
//
// One workgroup of WG invocations per row: each scans ids i, i + WG, ... keeping its best
// (value, id), then a tree over workgroup memory keeps the better of each pair (higher value, or
// equal value and lower id).
//
// Bindings: 0 Params · 1 logits (read) · 2 prev ids u32 (read; unused without HAS_PREV)
//           · 3 banned ids u32 (read) · 4 out ids u32 (rw)

struct Params {
  rows: u32,
  V: u32,
  offLogits: u32,  // floats
  offOut: u32,     // words
  offPrev: u32,    // words
  banned: u32,     // how many banned ids
  pad: u32,        // 0xffffffff: none
  sot: u32,        // 0xffffffff: may be generated
  eot: u32,
  flags: u32,      // 1: HAS_PREV, 2: MASK_EOT (shorter than min-len)
  negInf: u32,    // 0xff800000, the bits of -inf (a WGSL constant cannot hold it)
  pad1: u32,
}

const WG: u32 = 64u;
const HAS_PREV: u32 = 1u;
const MASK_EOT: u32 = 2u;
const NONE: u32 = 0xffffffffu;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> prev: array<u32>;
@group(0) @binding(3) var<storage, read> banned: array<u32>;
@group(0) @binding(4) var<storage, read_write> out: array<u32>;

var<workgroup> bestV: array<f32, WG>;
var<workgroup> bestI: array<u32, WG>;

fn masked(v: u32) -> bool {
  if (v == p.pad || v == p.sot) { return true; }
  if ((p.flags & MASK_EOT) != 0u && v == p.eot) { return true; }
  for (var b = 0u; b < p.banned; b++) {
    if (banned[b] == v) { return true; }
  }
  return false;
}

// Whether (a, ia) beats (b, ib): larger, or as large and earlier. -inf is a value like any other,
// so a row of nothing but masked ids picks 0, as the CPU scan does.
fn better(a: f32, ia: u32, b: f32, ib: u32) -> bool {
  return a > b || (a == b && ia < ib);
}

@compute @workgroup_size(64, 1, 1)
fn argmax_rows(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let n = wid.x;
  let l = lid.x;
  let base = p.offLogits + n * p.V;
  var bv = 0.0;
  var bi = NONE;
  for (var v = l; v < p.V; v += WG) {
    var x = logits[base + v];
    if (masked(v)) { x = bitcast<f32>(p.negInf); }
    if (bi == NONE || better(x, v, bv, bi)) { bv = x; bi = v; }
  }
  bestV[l] = bv;
  bestI[l] = bi;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s / 2u) {
    if (l < s) {
      let oi = bestI[l + s];
      if (oi != NONE && (bestI[l] == NONE || better(bestV[l + s], oi, bestV[l], bestI[l]))) {
        bestV[l] = bestV[l + s];
        bestI[l] = oi;
      }
    }
    workgroupBarrier();
  }
  if (l == 0u) {
    var pick = bestI[0];
    if ((p.flags & HAS_PREV) != 0u && prev[p.offPrev + n] == p.eot) { pick = p.eot; }
    out[p.offOut + n] = pick;
  }
}
