// Host side of the attention family: O = softmax(scale·Q·Kᵀ + mask)·V over (batch, heads, Lq, Lk,
// head dim), forward and backward, by one of two paths:
//   fused    attention.wgsl / attention_bwd.wgsl: flash-attention-2 style, saves only the
//            per-row log-sum-exp; extra memory O(B·H·L). Needs subgroups of a fixed size and a
//            head dim that is a multiple of 4, at most 128.
//   unfused  pack → matmul → attn_softmax → matmul → unpack (attention_rows.wgsl + the matmul
//            family): materialises P [B, H, Lq, Lk] and keeps it for the backward. The reference
//            path, available everywhere (any head dim), and the one that can hand P to the caller.
// The causal mask lets query i see keys j ≤ i + causalOffset, default Lk − Lq (last query lines up
// with last key, so a KV-cache decode step sees the whole cache). Key padding is u32 [B, Lk],
// 1 = attend. A row that sees no key gives O = 0, lse = −∞ and zero gradients.
//
// Attention weights for inference: pass `probs` (a [B, H, Lq, Lk] buffer) and P is written there;
// that runs the unfused path, which computes P anyway, so the training path (no probs) pays
// nothing for the option.
//
// A decode step's KV-cache append: pass `append` (the new key and value rows, where the q|k|v
// projection wrote them) and K, V the cache; the new rows land in cache rows Lk − Lq .. Lk − 1
// before the step attends. The fused forward does that inside its own dispatch (each workgroup
// writes its (batch, head)'s rows first), so a cached step needs no copy dispatch; the unfused
// path, and a fused call whose rows span several workgroups, copy first (copy_rows).
//
// A decode step of one or two batch rows goes further (attentionOutProj): the output projection
// and residual in the attention's dispatch, and at one row the block's layernorm and in-projection
// too, so a whole attention branch is one dispatch, with the bits of the separate ones.
import type { Binding, Gpu, KernelSpec } from '../src/gpu/gpu.ts';
import { ShapeError } from '../src/gpu/errors.ts';
import { checkDistinct, checkExtent, grid2d, MAX_ROW, ROW_WG, rowLayout, rowsWithin } from './common.ts';
import { LAYERNORM_EPS } from './layernorm.ts';
import { copyRows } from './copy.ts';
import { matmul } from './matmul.ts';

export const ATTENTION_PATHS = ['fused', 'unfused'] as const;
export type AttentionPath = (typeof ATTENTION_PATHS)[number];

/**
 * Q, K, V, O or a gradient in a buffer: element (b, h, i, d) is at
 * offset + b·strides[0] + h·strides[1] + i·strides[2] + d (floats; d is contiguous).
 */
export interface HeadsRef {
  buffer: GPUBuffer;
  offset?: number;
  /** [batch, head, row] strides; default [L·H·D, D, H·D], i.e. [B, L, H, D]. */
  strides?: readonly [number, number, number];
}

/** Strides of the common layouts, for HeadsRef.strides (and offsets for a fused QKV). */
export const headsLayout = {
  /** [B, L, H, D]: what a linear projection writes and the output projection reads. */
  blhd: (L: number, H: number, D: number): [number, number, number] => [L * H * D, D, H * D],
  /** [B, H, L, D]: dense per head. */
  bhld: (L: number, H: number, D: number): [number, number, number] => [H * L * D, L * D, D],
  /** One of q, k, v (which = 0, 1, 2) inside a fused projection [B, L, 3, H, D]. */
  qkv: (L: number, H: number, D: number, which: 0 | 1 | 2): { offset: number; strides: [number, number, number] } => ({
    offset: which * H * D,
    strides: [3 * L * H * D, D, 3 * H * D],
  }),
};

export interface AttentionCall {
  B: number;
  H: number;
  Lq: number;
  Lk: number;
  D: number;
  q: HeadsRef;
  k: HeadsRef;
  v: HeadsRef;
  /** Output, written (default layout [B, Lq, H, D]). */
  o: HeadsRef;
  /** Default 1/√D. */
  scale?: number;
  causal?: boolean;
  /** Default Lk − Lq. */
  causalOffset?: number;
  /** u32 [B, Lk], nonzero = attend. */
  keyMask?: GPUBuffer;
  /** Where to write the attention weights [B, H, Lq, Lk] (inference; forces the unfused path). */
  probs?: GPUBuffer;
  /** Forces a path (default chooseAttentionPath; COCA_ATTENTION also forces one). */
  path?: AttentionPath;
  /** Fused path only: forces the kernels' layout (default chooseFusedLayout). */
  fusedLayout?: FusedLayout;
  /**
   * `--precision f16`: Q, K, V (and, backward, dO) rounded to f16 as they are read, every sum and
   * the softmax in f32 (f16 inputs, f32 accumulation, as the f16 products). Both paths.
   */
  f16Inputs?: boolean;
  /**
   * Forward only: the Lq new key and value rows ([B, H, Lq, D] views), written into K and V at rows
   * Lk − Lq .. Lk − 1 before attending (the KV-cache append). K and V must then be views of one
   * buffer (the cache), and the new rows of one other buffer (Q may share it).
   */
  append?: { k: HeadsRef; v: HeadsRef };
  label?: string;
}

/** What the forward keeps for the backward; release with releaseAttentionSaved. */
export interface AttentionSaved {
  path: AttentionPath;
  /** [B, H, Lq] natural-log log-sum-exp of each row's scores (−∞ for a fully masked row). */
  lse: GPUBuffer;
  /** Unfused only: P [B, H, Lq, Lk]. */
  probs: GPUBuffer | null;
  ownsProbs: boolean;
}

export interface AttentionGrads {
  /** Upstream gradient, in O's layout unless given strides. */
  dO: HeadsRef;
  /** Written, not accumulated. dQ/dK/dV may share one buffer (a fused dQKV). */
  dQ: HeadsRef;
  dK: HeadsRef;
  dV: HeadsRef;
}

const MAX_FUSED_D = 128;

/**
 * How the fused kernels spread a head over a subgroup. 'rows' (attention.wgsl, attention_bwd.wgsl):
 * a lane holds whole HD-wide rows, and the other side's rows are broadcast to it; each load feeds
 * the most FMAs, which is what a software adapter wants, but a lane's arrays grow with HD (Q, O and
 * a K row are 3·HD floats a lane at R = 1: 384 at HD = 128, past any GPU's 255 registers, and
 * past lavapipe's ~256 floats). 'dims' (attention_dims*.wgsl): the lanes share rows, each holding
 * HD/SG dims of every one, and scores are subgroupAdds: a few dozen floats a lane at any HD.
 */
export const FUSED_LAYOUTS = ['rows', 'dims'] as const;
export type FusedLayout = (typeof FUSED_LAYOUTS)[number];

export function fusedLayoutAvailable(gpu: Gpu, layout: FusedLayout, D: number): boolean {
  if (!attentionPathAvailable(gpu, 'fused', D)) return false;
  return layout === 'rows' || D % gpu.subgroupSize === 0;
}

/**
 * Real GPUs take 'dims' wherever the head dim allows: 'rows' holds 288 floats a lane already at
 * HD = 32 (R = 4), past the 255 registers of an NVIDIA lane (unmeasured on hardware until the run
 * kit meets one; issue 18). Software adapters keep 'rows' below 128 (measured faster there at 32
 * and 64) and take 'dims' at 128, where 'rows' spills.
 */
export function chooseFusedLayout(gpu: Gpu, D: number): FusedLayout {
  if (!fusedLayoutAvailable(gpu, 'dims', D)) return 'rows';
  return !gpu.software || D >= 128 ? 'dims' : 'rows';
}

// Rows per workgroup of the 'dims' kernels: a lane holds DL = HD/SG floats of each owned row in
// each of its arrays (forward Q and O; dQ pass Q, dO and dQ; dK/dV pass K, V, dK and dV), kept to
// ~64 floats a lane.
const dimsRows = (gpu: Gpu, D: number, arrays: number) => Math.max(1, Math.min(8, Math.floor(128 / (arrays * (D / gpu.subgroupSize)))));
// Rows per lane. Measured on lavapipe at L = 1024, D = 32: once a lane's big register arrays (Q and
// O rows forward; K, V, dK, dV backward) pass about 256 floats they spill and the kernel runs 2-4×
// slower (fwd R = 8: 3.5 GFLOP/s, R = 4: 16; bwd R = 4: 8.5, R = 2: 16). The backward's R = 3 (384
// floats at D = 32) still beats 2 where it pads less (fusedBackwardRows).
const fwdRows = (D: number) => Math.max(1, Math.min(8, Math.floor(128 / D)));
const bwdRows = (D: number) => Math.max(1, Math.min(4, Math.floor(96 / D)));
const LOG2E = Math.LOG2E;

/**
 * The forward's R (rows per lane for 'rows', per workgroup for 'dims'): as many as the registers
 * allow, but no more than the queries need — a decoding step (Lq = 1) would otherwise compute
 * SG·R clamped copies of its one row (32 at HD = 32). A row's sums do not depend on R, so the bits
 * do not either (the cached decode stays equal to recomputation).
 */
export function fusedForwardRows(gpu: Gpu, layout: FusedLayout, D: number, Lq: number): number {
  if (layout === 'dims') return Math.min(dimsRows(gpu, D, 2), Lq);
  const forced = Number(gpu.setting('COCA_ATTENTION_ROWS') ?? 0);
  if (forced > 0) return forced; // scripts/ab-attention-rows.ts
  // scripts/ab-attention-rows.ts, lavapipe, tiny's 32x4xLx32, settings interleaved: L = 65 R=3
  // 11.9 ms a forward against R=4 18.5, R=2 14.6, R=1 18.0; L = 33 4.7 against 7.2, 5.3, 6.5.
  return leastPaddedRows(gpu.subgroupSize, fwdRows(D), Lq);
}

/**
 * Of the R ≥ 2 the registers allow (`most`), the one that pads L least to whole workgroups of SG·R
 * rows (the larger on a tie): the presets' 65 and 33 tokens take R = 3 (72 and 48 rows computed)
 * rather than 4 (96 and 64).
 */
function leastPaddedRows(sg: number, most: number, L: number): number {
  let best = Math.min(most, Math.ceil(L / sg));
  const padded = (r: number) => Math.ceil(L / (sg * r)) * sg * r;
  for (let r = best - 1; r >= 2; r--) if (padded(r) < padded(best)) best = r;
  return best;
}

/**
 * The backward's rows per lane, chosen apart for its two kernels: dQ's rows are queries (L = Lq),
 * dK/dV's are keys (L = Lk). `npx tsx scripts/ab-attention.ts` with AB=COCA_ATTENTION_BWD_ROWS
 * VALUES=2,1,3,4 (lavapipe, 8 interleaved rounds): at 32x4x65x65x32 R = 3 took dK/dV 16.9 → 14.1
 * ms and dQ 14.9 → 11.9 against R = 2 (R = 1 and 4 slower still); at 32x4x32x65x32 dQ's R = 2
 * and 4 (32 rows, no padding) 3.9 and 4.2 ms against R = 3's 8.3.
 */
export function fusedBackwardRows(gpu: Gpu, D: number, L: number): number {
  const forced = Number(gpu.setting('COCA_ATTENTION_BWD_ROWS') ?? 0);
  if (forced > 0) return forced; // scripts/ab-attention.ts
  return leastPaddedRows(gpu.subgroupSize, bwdRows(D), L);
}

export function attentionPathAvailable(gpu: Gpu, path: AttentionPath, D: number): boolean {
  if (path === 'unfused') return true;
  return gpu.has('subgroups') && gpu.subgroupSize > 0 && gpu.subgroupSize <= 64 && D <= MAX_FUSED_D && D % 4 === 0;
}

/**
 * Measured on lavapipe (`coca bench attention`, a busy 2-core VM, so ±30 %): at head dim 32 the
 * fused path beats the unfused one at every length tried, from the presets' 33 and 64 tokens
 * (2.5-3× forward+backward) to L = 4096 (1.5×); at 64 it is faster forward and within 15 %
 * forward+backward (L = 1024) while holding no L×L matrix; at 128 its lanes' register arrays
 * spill and the unfused path's matmuls are 2-3× faster, so that is chosen there unless its L×L
 * matrices (P and dS, `bh` of them) would not fit a storage binding. On a real GPU the 'dims'
 * layout holds no head-dim-wide row in a lane, so the fused path is taken at every head dim it
 * allows (unmeasured on hardware: issue 18).
 */
export function chooseAttentionPath(gpu: Gpu, Lq: number, Lk: number, D: number, wantProbs = false, bh = 1): AttentionPath {
  const forced = gpu.setting('COCA_ATTENTION');
  if (forced) {
    if (!(ATTENTION_PATHS as readonly string[]).includes(forced)) throw new ShapeError(`COCA_ATTENTION=${forced} is not an attention path (${ATTENTION_PATHS.join(', ')})`);
    if (forced === 'unfused' || (!wantProbs && attentionPathAvailable(gpu, 'fused', D))) return forced as AttentionPath;
  }
  if (wantProbs || !attentionPathAvailable(gpu, 'fused', D)) return 'unfused';
  const fits = bh * Lq * Lk * 4 <= gpu.limits.maxStorageBufferBindingSize;
  if (D <= FUSED_FASTEST_D || !fits) return 'fused';
  return !gpu.software && fusedLayoutAvailable(gpu, 'dims', D) ? 'fused' : 'unfused';
}
const FUSED_FASTEST_D = 64;

// ---- checks ------------------------------------------------------------------------------------

function stridesOf(r: HeadsRef, L: number, H: number, D: number): [number, number, number] {
  return [...(r.strides ?? headsLayout.blhd(L, H, D))] as [number, number, number];
}

const natural = (x: number) => Number.isInteger(x) && x >= 0;

function headsDesc(what: string, B: number, H: number, L: number, D: number, off: number, s: readonly number[]): string {
  return `attention: ${what} (${B}x${H}x${L}x${D}, offset ${off}, strides [${s.join(', ')}])`;
}

function checkHeads(gpu: Gpu, what: string, r: HeadsRef, B: number, H: number, L: number, D: number): [number, number, number, number] {
  const s = stridesOf(r, L, H, D);
  const off = r.offset ?? 0;
  // The message text is built only when thrown: this runs four times per attention call.
  if (!(natural(off) && natural(s[0]) && natural(s[1]) && natural(s[2]))) throw new ShapeError(`${headsDesc(what, B, H, L, D, off, s)}: offset and strides must be non-negative integers`);
  if (s[2] < D && L > 1) throw new ShapeError(`${headsDesc(what, B, H, L, D, off, s)}: row stride ${s[2]} is smaller than the head dim ${D}, so rows overlap`);
  const last = off + (B - 1) * s[0] + (H - 1) * s[1] + (L - 1) * s[2] + D;
  if (last * 4 > r.buffer.size) throw new ShapeError(`${headsDesc(what, B, H, L, D, off, s)}: reaches float ${last} but its buffer "${r.buffer.label}" holds ${Math.floor(r.buffer.size / 4)}`);
  if (last * 4 > gpu.limits.maxStorageBufferBindingSize) throw new ShapeError(`${headsDesc(what, B, H, L, D, off, s)}: over the adapter's storage-binding limit; split the batch`);
  return [off, s[0], s[1], s[2]];
}

function checkDims(c: Pick<AttentionCall, 'B' | 'H' | 'Lq' | 'Lk' | 'D'>): void {
  const dims: [string, number][] = [['B', c.B], ['H', c.H], ['Lq', c.Lq], ['Lk', c.Lk], ['D', c.D]];
  for (const [n, x] of dims) {
    if (!Number.isInteger(x) || x <= 0) throw new ShapeError(`attention: ${n} = ${x}; every dimension must be a positive integer`);
  }
}

// ---- uniforms ----------------------------------------------------------------------------------

const CAUSAL = 1;
const KEY_MASK = 2;
const SHARED_KV = 4;
const F16_IN = 8;
// attn_fwd_proj: a residual is added.
const OUT_PROJ_RESIDUAL = 16;

function fusedUniforms(c: Omit<AttentionCall, 'o'>, lays: Partial<Record<'q' | 'k' | 'v' | 'o' | 'dout' | 'dq' | 'dk' | 'dv', number[]>>, extra = 0): Uint32Array {
  const u = new ArrayBuffer(160);
  const u32 = new Uint32Array(u);
  const i32 = new Int32Array(u);
  const f32 = new Float32Array(u);
  u32.set([c.B, c.H, c.Lq, c.Lk]);
  f32[4] = (c.scale ?? 1 / Math.sqrt(c.D)) * LOG2E;
  i32[5] = c.causalOffset ?? c.Lk - c.Lq;
  u32[6] = (c.causal ? CAUSAL : 0) | (c.keyMask ? KEY_MASK : 0) | (c.f16Inputs ? F16_IN : 0) | extra;
  (['q', 'k', 'v', 'o', 'dout', 'dq', 'dk', 'dv'] as const).forEach((n, i) => lays[n] && u32.set(lays[n]!, 8 + 4 * i));
  return u32;
}

function rowsUniforms(B: number, H: number, L: number, D: number, o: { Lk?: number; flags?: number; causalOff?: number; strides?: number[]; dOStrides?: number[] } = {}): Uint32Array {
  const u32 = new Uint32Array(16);
  u32.set([B, H, L, D, o.Lk ?? 0, o.flags ?? 0]);
  new Int32Array(u32.buffer)[6] = o.causalOff ?? 0;
  if (o.strides) u32.set(o.strides, 8);
  if (o.dOStrides) u32.set(o.dOStrides, 12);
  return u32;
}

/** One invocation per element or row, in 64-wide workgroups. */
const rowsGrid = (gpu: Gpu, n: number): [number, number] => grid2d(gpu, Math.max(1, Math.ceil(n / 64)));

function rowsKernel(entry: string, bindings: KernelSpec['bindings']): KernelSpec {
  return { file: 'attention_rows', entry, bindings };
}

/** A fused kernel of either layout: R is rows per lane ('rows') or rows per workgroup ('dims'). */
function fusedSpec(gpu: Gpu, file: string, entry: string, D: number, R: number, reads: number, writes: number, masks: boolean): KernelSpec {
  const bindings: KernelSpec['bindings'] = [...Array<'read'>(reads).fill('read'), ...Array<'rw'>(writes).fill('rw')];
  return { file, entry, defines: { SG: gpu.subgroupSize, R, HD: D, MASKS: masks }, bindings };
}
/** Whether a call's fused kernels test a causal bound or a key mask (COCA_ATTENTION_MASKS=1: always, the A/B). */
const masksOf = (gpu: Gpu, c: Pick<AttentionCall, 'causal' | 'keyMask'>): boolean => !!c.causal || !!c.keyMask || gpu.setting('COCA_ATTENTION_MASKS') === '1';

/** The fused kernels' layout for this call: forced, else chosen; refused where it cannot run. */
function fusedLayoutOf(gpu: Gpu, c: AttentionCall): FusedLayout {
  const layout = c.fusedLayout ?? chooseFusedLayout(gpu, c.D);
  if (!fusedLayoutAvailable(gpu, layout, c.D)) throw new ShapeError(`attention: the fused 'dims' layout needs a head dim that is a multiple of the subgroup size ${gpu.subgroupSize} (D = ${c.D}); use 'rows'`);
  return layout;
}

/** The dimensions of a call and the layouts of Q, K, V and O, checked (forward and backward alike). */
function checkCall(gpu: Gpu, c: AttentionCall) {
  checkDims(c);
  const { B, H, Lq, Lk, D } = c;
  return {
    lq: checkHeads(gpu, 'Q', c.q, B, H, Lq, D),
    lk: checkHeads(gpu, 'K', c.k, B, H, Lk, D),
    lv: checkHeads(gpu, 'V', c.v, B, H, Lk, D),
    lo: checkHeads(gpu, 'O', c.o, B, H, Lq, D),
  };
}

// ---- forward -----------------------------------------------------------------------------------

/** Records O = attention(Q, K, V); returns what the backward needs. Checks every shape first. */
export function attention(gpu: Gpu, c: AttentionCall): AttentionSaved {
  const { B, H, Lq, Lk, D } = c;
  const { lq, lk, lv, lo } = checkCall(gpu, c);
  if (c.keyMask) checkExtent(gpu, 'attention', () => `keyMask [${B}, ${Lk}]`, c.keyMask, 0, B * Lk);
  if (c.probs) checkExtent(gpu, 'attention', () => `probs [${B}, ${H}, ${Lq}, ${Lk}]`, c.probs, 0, B * H * Lq * Lk);
  const ins: [string, GPUBuffer | undefined][] = [['Q', c.q.buffer], ['K', c.k.buffer], ['V', c.v.buffer], ['keyMask', c.keyMask]];
  for (const out of [['O', c.o.buffer], ['probs', c.probs]] as const) checkDistinct('attention', out, ...ins);
  if (c.probs && c.probs === c.o.buffer) throw new ShapeError('attention: probs must not share a buffer with O');
  const news = c.append && checkAppend(gpu, c);
  const path = c.path ?? chooseAttentionPath(gpu, Lq, Lk, D, !!c.probs, B * H);
  if (!attentionPathAvailable(gpu, path, D)) throw new ShapeError(`attention: the fused path needs subgroups of a fixed size and a head dim that is a multiple of 4, ≤ ${MAX_FUSED_D} (D = ${D}); use path 'unfused'`);
  if (path === 'fused' && c.probs) throw new ShapeError("attention: probs are only written by the unfused path (leave path unset or 'unfused')");
  const label = c.label ?? `attention_${path}(${B}x${H}x${Lq}x${Lk}x${D}${c.causal ? ',causal' : ''}${c.keyMask ? ',mask' : ''})`;
  const lse = gpu.alloc(B * H * Lq, 'attention:lse');

  if (path === 'fused') {
    const layout = fusedLayoutOf(gpu, c);
    const R = fusedForwardRows(gpu, layout, D, Lq);
    const wg = [Math.ceil(Lq / (layout === 'rows' ? gpu.subgroupSize * R : R)), B * H] as [number, number];
    // In-kernel append only where one workgroup holds every query row of its (batch, head).
    const inKernel = !!news && wg[0] === 1;
    if (news && !inKernel) appendByCopy(gpu, c, news);
    const masks = masksOf(gpu, c);
    const kernel = gpu.kernelBy(`attention:fwd:${layout}:${D}:${R}:${inKernel ? 1 : 0}:${masks ? 1 : 0}`, () => {
      const spec = layout === 'rows' ? fusedSpec(gpu, 'attention', 'attn_fwd', D, R, 4, 2, masks) : fusedSpec(gpu, 'attention_dims', 'attn_fwd_dims', D, R, 4, 2, masks);
      // The cache (binding 2) is written: the one read-write input.
      return inKernel ? { ...spec, defines: { ...spec.defines, APPEND: true }, bindings: ['read', 'rw', 'read', 'read', 'rw', 'rw'] } : spec;
    });
    const u = fusedUniforms(c, { q: lq, k: lk, v: lv, o: lo, ...(inKernel ? { dk: news.k, dv: news.v } : {}) });
    const kv = inKernel ? [c.k.buffer, c.append!.k.buffer] : [c.k.buffer, c.v.buffer];
    gpu.dispatch(kernel, u, [c.q.buffer, ...kv, c.keyMask ?? gpu.unused, c.o.buffer, lse], wg, inKernel ? `${label},append` : label);
    return { path, lse, probs: null, ownsProbs: false };
  }
  if (news) appendByCopy(gpu, c, news);

  const probs = c.probs ?? gpu.alloc(B * H * Lq * Lk, 'attention:probs');
  const qd = pack(gpu, c.q.buffer, lq, B, H, Lq, D, 'attention:Qd', c.f16Inputs);
  const kd = pack(gpu, c.k.buffer, lk, B, H, Lk, D, 'attention:Kd', c.f16Inputs);
  const vd = pack(gpu, c.v.buffer, lv, B, H, Lk, D, 'attention:Vd', c.f16Inputs);
  const BH = B * H;
  matmul(gpu, { a: { buffer: qd, shape: [BH, Lq, D] }, b: { buffer: kd, shape: [BH, Lk, D] }, c: { buffer: probs, shape: [BH, Lq, Lk] }, transB: true, alpha: c.scale ?? 1 / Math.sqrt(D), label: `${label}:QKᵀ` });
  softmax(gpu, c, probs, lse);
  const od = gpu.alloc(BH * Lq * D, 'attention:Od');
  matmul(gpu, { a: { buffer: probs, shape: [BH, Lq, Lk] }, b: { buffer: vd, shape: [BH, Lk, D] }, c: { buffer: od, shape: [BH, Lq, D] }, label: `${label}:PV` });
  unpack(gpu, od, c.o.buffer, lo, B, H, Lq, D);
  for (const b of [qd, kd, vd, od]) gpu.release(b);
  return { path, lse, probs, ownsProbs: !c.probs };
}

/** The output projection attentionOutProj applies: y [B, N] = O·Wᵀ + bias (+ residual), W [N, H·D]. */
export interface OutProjCall {
  N: number;
  weight: { buffer: GPUBuffer; offset?: number };
  bias: { buffer: GPUBuffer; offset?: number };
  residual?: { buffer: GPUBuffer; offset?: number };
  y: { buffer: GPUBuffer; offset?: number };
}

/**
 * Whether attentionOutProj can take a call: one query row, the fused 'rows' kernels with one row a
 * lane, f32, W's rows on 16-byte boundaries (vec4 loads).
 */
export function attentionOutProjFits(gpu: Gpu, c: { B: number; Lq: number; Lk: number; H: number; D: number; f16Inputs?: boolean; probs?: GPUBuffer; path?: AttentionPath }, weightOffset: number): boolean {
  if (c.Lq !== 1 || c.f16Inputs || c.probs || c.path === 'unfused') return false;
  if (!fusedLayoutAvailable(gpu, 'rows', c.D) || chooseFusedLayout(gpu, c.D) !== 'rows' || fusedForwardRows(gpu, 'rows', c.D, 1) !== 1) return false;
  if (chooseAttentionPath(gpu, 1, c.Lk, c.D, false, c.B * c.H) !== 'fused' && c.path !== 'fused') return false;
  return (c.H * c.D) % 4 === 0 && weightOffset % 4 === 0 && c.B <= gpu.limits.maxComputeWorkgroupsPerDimension;
}

/**
 * Batch rows up to which a decoding step's attention takes its output projection in (the caller's
 * choice, attentionOutProjPays). One workgroup a batch row walks every head on one core where
 * attention alone spreads B·H workgroups over the cores: the dispatch saved pays for that at a few
 * rows. `npx tsx scripts/ab-decode.ts COCA_ATTENTION_PROJ=0,1 [batch]` (tiny, 30 tokens, lavapipe,
 * per-round ratios of 30 rounds at batch 1, 14 at the others): batch 1 0.88 (quartiles
 * 0.75–1.02), batch 2 0.74, batch 4 0.97, batch 16 1.15.
 */
export const OUT_PROJ_BATCH_MAX = 2;

/** Whether a call of B batch rows should take attentionOutProj (COCA_ATTENTION_PROJ sets the most rows; 0: never). */
export function attentionOutProjPays(gpu: Gpu, B: number): boolean {
  return rowsWithin(gpu, 'COCA_ATTENTION_PROJ', B, OUT_PROJ_BATCH_MAX);
}

/**
 * The block-input side attentionOutProj may take in too (attn_fwd_proj's INPROJ): the query, and
 * for a self-attention step the new key and value rows, computed in the same dispatch from the
 * block's input row x — the call's residual, [B, H·D] — through its layernorm (γ, β) and the
 * in-projection W_in [cols, H·D] (+ bias), with the bits of the skinny product with that layernorm
 * prologue. `selfKV`: W_in makes q|k|v (cols = 3·H·D) and the new key and value rows go into the
 * cache (K and V, views of one buffer) at row Lk − 1; else it makes q alone (cols = H·D).
 */
export interface InProjCall {
  weight: { buffer: GPUBuffer; offset?: number };
  bias: { buffer: GPUBuffer; offset?: number };
  gamma: { buffer: GPUBuffer; offset?: number };
  beta: { buffer: GPUBuffer; offset?: number };
  eps?: number;
  selfKV: boolean;
}

/** Storage bindings attn_fwd_proj takes with INPROJ: Q (unused), K, V, mask, W, bias, x, y, W_in, b_in, γ, β. */
const IN_PROJ_BINDINGS = 12;

/** Whether attentionOutProj can also take the in-projection (beyond attentionOutProjFits): see InProjCall. */
export function attentionInProjFits(gpu: Gpu, c: { H: number; D: number }, weightOffset: number, selfKV: boolean): boolean {
  const E = c.H * c.D;
  const cols = (selfKV ? 3 : 1) * E;
  return gpu.limits.maxStorageBuffersPerShaderStage >= IN_PROJ_BINDINGS && gpu.subgroupSize > 0 && cols % gpu.subgroupSize === 0 && E <= MAX_ROW && weightOffset % 4 === 0;
}

/**
 * Batch rows up to which a decoding step's attention also takes its in-projection (the caller's
 * choice, attentionInProjPays): the projection adds a row's q|k|v to the one core each batch row's
 * workgroup runs on. `npx tsx scripts/ab-decode.ts COCA_ATTENTION_INPROJ=0,B B` (tiny, 30 tokens,
 * lavapipe, per-round ratios, the out_proj fusion on in both): batch 1 0.90 (quartiles 0.86–1.06,
 * 20 rounds), batch 2 1.11 (0.99–1.30, 10 rounds).
 */
export const IN_PROJ_BATCH_MAX = 1;

/** Whether a call of B batch rows should take the in-projection too (COCA_ATTENTION_INPROJ sets the most rows; 0: never). */
export function attentionInProjPays(gpu: Gpu, B: number): boolean {
  return rowsWithin(gpu, 'COCA_ATTENTION_INPROJ', B, IN_PROJ_BATCH_MAX);
}

/**
 * A decoding step's attention (one query row per batch, the KV-cache append included) and its
 * output projection in one dispatch (attention.wgsl attn_fwd_proj): the bits of attention() then
 * the projection's matmul, one dispatch fewer. O is not written. Only where attentionOutProjFits.
 * With `inProj` the query (and key and value rows) come from the block's input in the same
 * dispatch (c.q and c.append unused): one more dispatch saved, the same bits.
 */
export function attentionOutProj(gpu: Gpu, c: Omit<AttentionCall, 'o'>, proj: OutProjCall, inProj?: InProjCall): void {
  const { B, H, Lq, Lk, D } = c;
  const E = H * D;
  checkDims(c);
  const lq = inProj ? [0, 0, 0, 0] : checkHeads(gpu, 'Q', c.q, B, H, Lq, D);
  const lk = checkHeads(gpu, 'K', c.k, B, H, Lk, D);
  const lv = checkHeads(gpu, 'V', c.v, B, H, Lk, D);
  if (!attentionOutProjFits(gpu, c, proj.weight.offset ?? 0)) throw new ShapeError(`attention: the output projection rides in the attention dispatch only for one query row on the fused 'rows' kernels in f32, with W 16-byte aligned (Lq = ${Lq}, D = ${D}); run attention, then the product`);
  if (c.keyMask) checkExtent(gpu, 'attention', () => `keyMask [${B}, ${Lk}]`, c.keyMask, 0, B * Lk);
  const N = proj.N;
  if (!Number.isInteger(N) || N <= 0) throw new ShapeError(`attention: the output projection's N = ${N}; it must be a positive integer`);
  const off = (a?: { offset?: number }) => a?.offset ?? 0;
  type Part = [string, { buffer: GPUBuffer; offset?: number }, number];
  const parts: Part[] = [['out_proj weight', proj.weight, N * E], ['out_proj bias', proj.bias, N], ['y', proj.y, B * N], ...(proj.residual ? [['residual', proj.residual, B * N] as Part] : [])];
  const cols = inProj ? (inProj.selfKV ? 3 : 1) * E : 0;
  if (inProj) {
    if (!proj.residual || N !== E) throw new ShapeError(`attention: the in-projection reads the block's input as the residual, [B, ${E}]; give the residual and N = ${E} (N = ${N})`);
    if (c.append) throw new ShapeError('attention: with the in-projection the kernel appends the new key and value rows itself; give no append');
    if (!attentionInProjFits(gpu, c, off(inProj.weight), inProj.selfKV)) throw new ShapeError(`attention: the in-projection needs ${IN_PROJ_BINDINGS} storage bindings a stage (this adapter: ${gpu.limits.maxStorageBuffersPerShaderStage}), ${cols} outputs a multiple of the subgroup size, a row of at most ${MAX_ROW} and W_in 16-byte aligned`);
    if (inProj.selfKV && c.k.buffer !== c.v.buffer) throw new ShapeError('attention: the in-projection writes the new key and value rows into K and V, which must then be views of one cache buffer');
    parts.push(['in_proj weight', inProj.weight, cols * E], ['in_proj bias', inProj.bias, cols], ['layernorm γ', inProj.gamma, E], ['layernorm β', inProj.beta, E]);
  }
  for (const [what, at, n] of parts) checkExtent(gpu, 'attention', `${what} [${n}]`, at.buffer, off(at), n);
  const reads = parts.filter(([w]) => w !== 'y').map(([w, at]) => [w, at] as const);
  checkDistinct('attention', ['y', proj.y], ['Q', inProj ? undefined : c.q.buffer], ['K', c.k.buffer], ['V', c.v.buffer], ['keyMask', c.keyMask], ...reads);
  if (inProj?.selfKV) checkDistinct('attention', ['the K|V cache', c.k.buffer], ['keyMask', c.keyMask], ...reads);
  const news = c.append && checkAppend(gpu, c);
  const writesKV = !!news || !!inProj?.selfKV;
  const masks = masksOf(gpu, c);
  const vpt = inProj ? rowLayout(gpu, 'attention', [1, E]).vpt : 0;
  const kernel = gpu.kernelBy(`attention:fwd_proj:${D}:${H}:${N}:${writesKV ? 1 : 0}:${masks ? 1 : 0}:${cols}:${vpt}`, () => {
    const spec = fusedSpec(gpu, 'attention', 'attn_fwd_proj', D, 1, 4, 0, masks);
    const inDefines: Record<string, number | boolean> = inProj ? { INPROJ: true, INK: E, INCOLS: cols, WG: ROW_WG, VPT: vpt } : {};
    const bindings: KernelSpec['bindings'] = ['read', writesKV ? 'rw' : 'read', 'read', 'read', 'read', 'read', 'read', 'rw', ...(inProj ? (['read', 'read', 'read', 'read'] as const) : [])];
    return { ...spec, defines: { ...spec.defines, PROJ: true, NH: H, NOUT: N, ...(writesKV ? { APPEND: true } : {}), ...inDefines }, bindings };
  });
  const lays: Parameters<typeof fusedUniforms>[1] = { q: lq, k: lk, v: lv, o: [off(proj.weight), off(proj.bias), off(proj.residual), off(proj.y)], ...(news ? { dk: news.k, dv: news.v } : {}) };
  if (inProj) {
    lays.dout = [off(inProj.weight), off(inProj.bias), off(inProj.gamma), off(inProj.beta)];
    lays.dq = [new Uint32Array(new Float32Array([inProj.eps ?? LAYERNORM_EPS]).buffer)[0]!, 0, 0, 0];
  }
  const u = fusedUniforms(c, lays, proj.residual ? OUT_PROJ_RESIDUAL : 0);
  const kv = news ? [c.k.buffer, c.append!.k.buffer] : inProj?.selfKV ? [c.k.buffer, gpu.unused] : [c.k.buffer, c.v.buffer];
  const ins = inProj ? [inProj.weight.buffer, inProj.bias.buffer, inProj.gamma.buffer, inProj.beta.buffer] : [];
  const label = c.label ?? `${inProj ? 'in_proj+' : ''}attention+out_proj(${B}x${H}x${Lq}x${Lk}x${D}→${N}${writesKV ? ',append' : ''})`;
  gpu.dispatch(kernel, u, [inProj ? gpu.unused : c.q.buffer, ...kv, c.keyMask ?? gpu.unused, proj.weight.buffer, proj.bias.buffer, proj.residual?.buffer ?? gpu.unused, proj.y.buffer, ...ins], [1, B], label);
}

/** The append's layouts, checked: new rows [B, H, Lq, D] in one buffer, the cache in another. */
function checkAppend(gpu: Gpu, c: Omit<AttentionCall, 'o'>): { k: number[]; v: number[] } {
  const a = c.append!;
  if (c.k.buffer !== c.v.buffer) throw new ShapeError('attention: append writes the new rows into K and V, which must then be views of one cache buffer');
  if (a.k.buffer !== a.v.buffer) throw new ShapeError('attention: the appended key and value rows must be views of one buffer (the q|k|v projection)');
  if (c.Lq > c.Lk) throw new ShapeError(`attention: append of ${c.Lq} rows into a cache of ${c.Lk}`);
  checkDistinct('attention', ['the K|V cache', c.k.buffer], ['Q', c.q.buffer], ['the appended rows', a.k.buffer], ['keyMask', c.keyMask]);
  return { k: checkHeads(gpu, 'appended K', a.k, c.B, c.H, c.Lq, c.D), v: checkHeads(gpu, 'appended V', a.v, c.B, c.H, c.Lq, c.D) };
}

/** The append as copies before the attention (the unfused path, or a fused call over several workgroups). */
function appendByCopy(gpu: Gpu, c: AttentionCall, news: { k: number[]; v: number[] }): void {
  const { B, H, Lq, Lk, D } = c;
  const cache = { k: stridesOf(c.k, Lk, H, D), v: stridesOf(c.v, Lk, H, D) };
  const off = { k: c.k.offset ?? 0, v: c.v.offset ?? 0 };
  const sameStrides = (a: readonly number[], b: readonly number[]) => a.every((x, i) => x === b[i]);
  // A fused projection into a [B, L, K|V] cache has V right after K on both sides: one copy.
  const adjacent = sameStrides(news.k.slice(1), news.v.slice(1)) && sameStrides(cache.k, cache.v) && news.v[0] === news.k[0]! + H * D && off.v === off.k + H * D && news.k[2] === D && cache.k[1] === D;
  for (const which of adjacent ? (['k'] as const) : (['k', 'v'] as const)) {
    const [o, sb, sh, sr] = news[which] as [number, number, number, number];
    const [cb, ch, cr] = cache[which];
    // One copy of all heads where both sides hold a row's heads side by side, else one per head.
    const perHead = sh !== D || ch !== D;
    for (let h = 0; h < (perHead ? H : 1); h++) {
      copyRows(gpu, {
        src: c.append![which].buffer,
        dst: c.k.buffer,
        B,
        R: Lq,
        C: perHead ? D : (adjacent ? 2 : 1) * H * D,
        srcLayout: { offset: o + h * sh, batchStride: sb, rowStride: sr },
        dstLayout: { offset: off[which] + h * ch + (Lk - Lq) * cr, batchStride: cb, rowStride: cr },
        label: 'kv_append',
      });
    }
  }
}

export function releaseAttentionSaved(gpu: Gpu, s: AttentionSaved): void {
  gpu.release(s.lse);
  if (s.probs && s.ownsProbs) gpu.release(s.probs);
}

function pack(gpu: Gpu, src: GPUBuffer, layout: number[], B: number, H: number, L: number, D: number, label: string, f16 = false): GPUBuffer {
  const dst = gpu.alloc(B * H * L * D, label);
  const u = rowsUniforms(B, H, L, D, { strides: layout, flags: f16 ? F16_IN : 0 });
  gpu.dispatch(gpu.kernel(rowsKernel('attn_pack', ['read', 'read', 'rw'])), u, [src, src, dst], rowsGrid(gpu, B * H * L * D), `attn_pack(${label})`);
  return dst;
}

function unpack(gpu: Gpu, src: GPUBuffer, dst: GPUBuffer, layout: number[], B: number, H: number, L: number, D: number): void {
  const u = rowsUniforms(B, H, L, D, { strides: layout });
  gpu.dispatch(gpu.kernel(rowsKernel('attn_unpack', ['read', 'read', 'rw'])), u, [src, src, dst], rowsGrid(gpu, B * H * L * D), `attn_unpack(${dst.label})`);
}

function softmax(gpu: Gpu, c: AttentionCall, probs: GPUBuffer, lse: GPUBuffer): void {
  const flags = (c.causal ? CAUSAL : 0) | (c.keyMask ? KEY_MASK : 0);
  const u = rowsUniforms(c.B, c.H, c.Lq, c.D, { Lk: c.Lk, flags, causalOff: c.causalOffset ?? c.Lk - c.Lq });
  const m = c.keyMask ?? gpu.unused;
  gpu.dispatch(gpu.kernel(rowsKernel('attn_softmax', ['read', 'read', 'rw', 'rw'])), u, [m, m, probs, lse], rowsGrid(gpu, c.B * c.H * c.Lq), 'attn_softmax');
}

// ---- backward ----------------------------------------------------------------------------------

/**
 * Records dQ, dK, dV for the upstream gradient dO, given the call of the forward (its O must
 * still hold the forward's output) and what it saved.
 */
export function attentionBackward(gpu: Gpu, c: AttentionCall, saved: AttentionSaved, g: AttentionGrads): void {
  const { B, H, Lq, Lk, D } = c;
  const { lq, lk, lv, lo } = checkCall(gpu, c);
  const lg = checkHeads(gpu, 'dO', { strides: c.o.strides, ...g.dO }, B, H, Lq, D);
  const ldq = checkHeads(gpu, 'dQ', g.dQ, B, H, Lq, D);
  const ldk = checkHeads(gpu, 'dK', g.dK, B, H, Lk, D);
  const ldv = checkHeads(gpu, 'dV', g.dV, B, H, Lk, D);
  const ins: [string, GPUBuffer | undefined][] = [['Q', c.q.buffer], ['K', c.k.buffer], ['V', c.v.buffer], ['dO', g.dO.buffer], ['O', c.o.buffer], ['keyMask', c.keyMask]];
  for (const out of [['dQ', g.dQ], ['dK', g.dK], ['dV', g.dV]] as const) checkDistinct('attention', out, ...ins);
  const BH = B * H;
  const label = c.label ? `${c.label}:bwd` : `attention_${saved.path}_bwd(${B}x${H}x${Lq}x${Lk}x${D})`;

  if (saved.path === 'fused') {
    // D = rowsum(dO∘O) is summed by the dQ kernel, which writes it for the dK/dV kernel after it:
    // two dispatches, no attn_delta of its own.
    const delta = gpu.alloc(BH * Lq, 'attention:delta');
    const sg = gpu.subgroupSize;
    const shared = g.dK.buffer === g.dV.buffer;
    const u = fusedUniforms(c, { q: lq, k: lk, v: lv, o: lo, dout: lg, dq: ldq, dk: ldk, dv: ldv }, shared ? SHARED_KV : 0);
    // With no mask, binding 4 gets lse: a read-only alias is allowed, and the kernels never read it.
    const mask = c.keyMask ?? saved.lse;
    const common: Binding[] = [c.q.buffer, c.k.buffer, c.v.buffer, mask, g.dO.buffer, saved.lse, delta];
    const dkv: Binding[] = [...common, g.dK.buffer, shared ? gpu.unused : g.dV.buffer];
    const dq: Binding[] = [...common, g.dQ.buffer, c.o.buffer];
    const masks = masksOf(gpu, c);
    const dqSpec = (file: string, entry: string, R: number): KernelSpec => ({ ...fusedSpec(gpu, file, entry, D, R, 6, 0, masks), bindings: [...Array<'read'>(6).fill('read'), 'rw', 'rw', 'read'] });
    if (fusedLayoutOf(gpu, c) === 'rows') {
      const RQ = fusedBackwardRows(gpu, D, Lq);
      const RK = fusedBackwardRows(gpu, D, Lk);
      gpu.dispatch(gpu.kernel(dqSpec('attention_bwd', 'attn_bwd_dq', RQ)), u, dq, [Math.ceil(Lq / (sg * RQ)), BH], `${label}:dQ`);
      gpu.dispatch(gpu.kernel(fusedSpec(gpu, 'attention_bwd', 'attn_bwd_dkv', D, RK, 7, 2, masks)), u, dkv, [Math.ceil(Lk / (sg * RK)), BH], `${label}:dKV`);
    } else {
      const RK = dimsRows(gpu, D, 4);
      const RQ = dimsRows(gpu, D, 3);
      gpu.dispatch(gpu.kernel(dqSpec('attention_dims_bwd', 'attn_bwd_dq_dims', RQ)), u, dq, [Math.ceil(Lq / RQ), BH], `${label}:dQ`);
      gpu.dispatch(gpu.kernel(fusedSpec(gpu, 'attention_dims_bwd', 'attn_bwd_dkv_dims', D, RK, 7, 2, masks)), u, dkv, [Math.ceil(Lk / RK), BH], `${label}:dKV`);
    }
    gpu.release(delta);
    return;
  }

  if (!saved.probs) throw new ShapeError('attention: the unfused backward needs the P its forward saved');
  const scale = c.scale ?? 1 / Math.sqrt(D);
  const qd = pack(gpu, c.q.buffer, lq, B, H, Lq, D, 'attention:Qd', c.f16Inputs);
  const kd = pack(gpu, c.k.buffer, lk, B, H, Lk, D, 'attention:Kd', c.f16Inputs);
  const vd = pack(gpu, c.v.buffer, lv, B, H, Lk, D, 'attention:Vd', c.f16Inputs);
  const gd = pack(gpu, g.dO.buffer, lg, B, H, Lq, D, 'attention:dOd', c.f16Inputs);
  const P = saved.probs;
  const dS = gpu.alloc(BH * Lq * Lk, 'attention:dS');
  matmul(gpu, { a: { buffer: gd, shape: [BH, Lq, D] }, b: { buffer: vd, shape: [BH, Lk, D] }, c: { buffer: dS, shape: [BH, Lq, Lk] }, transB: true, label: `${label}:dP` });
  const ub = rowsUniforms(B, H, Lq, D, { Lk });
  gpu.dispatch(gpu.kernel(rowsKernel('attn_softmax_bwd', ['read', 'read', 'rw'])), ub, [P, P, dS], rowsGrid(gpu, BH * Lq), `${label}:dS`);
  const dqd = gpu.alloc(BH * Lq * D, 'attention:dQd');
  const dkd = gpu.alloc(BH * Lk * D, 'attention:dKd');
  const dvd = gpu.alloc(BH * Lk * D, 'attention:dVd');
  matmul(gpu, { a: { buffer: dS, shape: [BH, Lq, Lk] }, b: { buffer: kd, shape: [BH, Lk, D] }, c: { buffer: dqd, shape: [BH, Lq, D] }, alpha: scale, label: `${label}:dQ` });
  matmul(gpu, { a: { buffer: dS, shape: [BH, Lq, Lk] }, b: { buffer: qd, shape: [BH, Lq, D] }, c: { buffer: dkd, shape: [BH, Lk, D] }, transA: true, alpha: scale, label: `${label}:dK` });
  matmul(gpu, { a: { buffer: P, shape: [BH, Lq, Lk] }, b: { buffer: gd, shape: [BH, Lq, D] }, c: { buffer: dvd, shape: [BH, Lk, D] }, transA: true, label: `${label}:dV` });
  unpack(gpu, dqd, g.dQ.buffer, ldq, B, H, Lq, D);
  unpack(gpu, dkd, g.dK.buffer, ldk, B, H, Lk, D);
  unpack(gpu, dvd, g.dV.buffer, ldv, B, H, Lk, D);
  for (const b of [qd, kd, vd, gd, dS, dqd, dkd, dvd]) gpu.release(b);
}
