// attention_common.wgsl — what the fused forward (attention.wgsl) and backward (attention_bwd.wgsl)
// share, pulled in with //#include after their `enable subgroups;`: the parameters (one struct for
// both passes, filled by kernels/attention.ts fusedUniforms), the flags, the bindings 0-4, the
// strided addressing, the mask test and the causal bound.
//
// Tensors are strided: element (b, h, i, d) of X is at X.x + b·X.y + h·X.z + i·X.w + d (the vec4u
// layouts below), so Q/K/V can be read straight out of a fused [B, L, 3, H, D] projection.

struct Params {
  B: u32, H: u32, Lq: u32, Lk: u32,
  scale2: f32,     // scale · log2(e)
  causalOff: i32,  // query i sees key j ≤ i + causalOff
  flags: u32,
  pad0: u32,
  q: vec4u, k: vec4u, v: vec4u, o: vec4u,
  dout: vec4u, dq: vec4u, dk: vec4u, dv: vec4u,
}

const CAUSAL: u32 = 1u;
const KEY_MASK: u32 = 2u;
// `--precision f16`: Q, K, V (and dO) rounded to f16 as they are loaded, all arithmetic f32.
const F16_IN: u32 = 8u;
const LN2: f32 = 0.6931471805599453;
// Whether the call may have a causal bound or a key mask (the host's define): without either, a
// pipeline of its own leaves their tests out of every score, which a software adapter pays for
// whether the flags are set or not.
const MASKS: bool = true;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> Q: array<f32>;
@group(0) @binding(4) var<storage, read> keyMask: array<u32>;

// The forward's KV-cache append (a decode step, kernels/attention.ts AttentionCall.append): K and
// V are one cache buffer, bound once read-write (a writable binding may not alias another), and
// the Lq new key and value rows are read from binding 3 (the fused q|k|v projection, at the
// layouts p.dk and p.dv, which the forward has no other use for). Each workgroup first writes its
// (batch, head)'s new rows into cache rows Lk − Lq .. Lk − 1 (appendRows), then attends over the
// cache as usual; the host runs it only where one workgroup holds all Lq rows of a (batch, head),
// so no workgroup reads rows another writes.
const APPEND: bool = false;
//#if APPEND
@group(0) @binding(2) var<storage, read_write> KV: array<f32>;
@group(0) @binding(3) var<storage, read> NEW: array<f32>;
fn loadK(a: u32) -> vec4f { return inF16x4(vec4f(KV[a], KV[a + 1u], KV[a + 2u], KV[a + 3u])); }
fn loadV(a: u32) -> vec4f { return inF16x4(vec4f(KV[a], KV[a + 1u], KV[a + 2u], KV[a + 3u])); }
fn loadK1(a: u32) -> f32 { return inF16(KV[a]); }
fn loadV1(a: u32) -> f32 { return inF16(KV[a]); }

// Lanes `lane` of `lanes` copy the new rows (unrounded: the cache holds what the projection wrote).
fn appendRows(b: u32, h: u32, lane: u32, lanes: u32, D: u32) {
  let first = p.Lk - p.Lq;
  for (var e = lane; e < p.Lq * D; e += lanes) {
    let i = e / D;
    let d = e % D;
    KV[base(p.k, b, h) + (first + i) * p.k.w + d] = NEW[base(p.dk, b, h) + i * p.dk.w + d];
    KV[base(p.v, b, h) + (first + i) * p.v.w + d] = NEW[base(p.dv, b, h) + i * p.dv.w + d];
  }
  storageBarrier();
}
//#else
@group(0) @binding(2) var<storage, read> K: array<f32>;
@group(0) @binding(3) var<storage, read> V: array<f32>;
fn loadK(a: u32) -> vec4f { return inF16x4(vec4f(K[a], K[a + 1u], K[a + 2u], K[a + 3u])); }
fn loadV(a: u32) -> vec4f { return inF16x4(vec4f(V[a], V[a + 1u], V[a + 2u], V[a + 3u])); }
fn loadK1(a: u32) -> f32 { return inF16(K[a]); }
fn loadV1(a: u32) -> f32 { return inF16(V[a]); }
//#end

fn base(l: vec4u, b: u32, h: u32) -> u32 { return l.x + b * l.y + h * l.z; }

// Rows are held as vec4s: a loop over HD/4 is short enough for LLVM to unroll, so the arrays
// stay in registers (a 64-trip scalar loop was not, and ran 3× slower at head dim 64).
fn loadQ(a: u32) -> vec4f { return inF16x4(vec4f(Q[a], Q[a + 1u], Q[a + 2u], Q[a + 3u])); }

//#include f16_round

// An input as loaded: rounded to f16 under F16_IN (a uniform flag: one pipeline for both).
fn inF16(x: f32) -> f32 { return select(x, round_f16(x), (p.flags & F16_IN) != 0u); }
fn inF16x4(x: vec4f) -> vec4f { return select(x, round_f16x4(x), (p.flags & F16_IN) != 0u); }

// Whether query i may attend key j of batch b; rows and keys past the ends attend nothing (the
// kernels clamp their loads there and compute rows they never store).
fn attends(b: u32, i: u32, j: u32) -> bool {
  if (i >= p.Lq || j >= p.Lk) { return false; }
  if (!MASKS) { return true; }
  if ((p.flags & KEY_MASK) != 0u && keyMask[b * p.Lk + j] == 0u) { return false; }
  if ((p.flags & CAUSAL) != 0u && i32(j) > i32(i) + p.causalOff) { return false; }
  return true;
}

// Keys past this bound are masked for every row below `rowEnd` (causal), so the loop stops there.
fn keyEnd(rowEnd: u32) -> u32 {
  if ((p.flags & CAUSAL) == 0u) { return p.Lk; }
  return u32(clamp(i32(rowEnd) + p.causalOff, 0, i32(p.Lk)));
}
