// Host side of the matmul family (shaders/matmul.wgsl, shaders/matmul_subgroups.wgsl,
// shaders/matmul_tiled128.wgsl — tiled128, tiled64, splitk —, shaders/matmul_sgmatrix.wgsl):
// shape checks, variant choice, uniforms, dispatch.
import type { Gpu, KernelSpec } from '../src/gpu/gpu.ts';
import type { Defines } from '../src/gpu/shaders.ts';
import { ShapeError } from '../src/gpu/errors.ts';
import { pickSubgroupMatrixConfig, type SubgroupMatrixConfig } from '../src/gpu/subgroup-matrix.ts';
import { checkDistinct, checkExtent, describeShape, grid2d, MAX_ROW, ROW_WG, rowLayout, type TensorRef } from './common.ts';
import { LAYERNORM_EPS } from './layernorm.ts';

export const MATMUL_VARIANTS = ['naive', 'tiled', 'regblock', 'subgroup', 'tiled128', 'skinny', 'tiled64', 'splitk'] as const;
/**
 * Variants that round the inputs to f16 (accumulating in f32): asked for by name only, never
 * chosen by the heuristic, since their answer is f16's. `sgmatrix` runs on subgroup matrices
 * (tensor cores) where the adapter has them.
 */
export const MATMUL_F16_VARIANTS = ['sgmatrix'] as const;
export type MatmulVariant = (typeof MATMUL_VARIANTS)[number] | (typeof MATMUL_F16_VARIANTS)[number];

export interface MatmulCall {
  /** Stored shape [rows, cols] or [batch, rows, cols], row-major. */
  a: TensorRef;
  b: TensorRef;
  /** Output [M, N] or [batch, M, N]. */
  c: TensorRef;
  /** Added to every row of the output, length N. */
  bias?: { buffer: GPUBuffer; offset?: number };
  transA?: boolean;
  transB?: boolean;
  alpha?: number;
  /** C += result instead of C = result. */
  accumulate?: boolean;
  /**
   * Also writes the row sums of op(A), Σ_k op(A)[m, k], M floats at `offset` of C's own buffer
   * (+= with accumulate), outside C's range: the bias gradient beside dW = dyᵀ·x in the same pass
   * (both live in the gradient arena). Only where matmulFusesRowSum says so (the subgroup
   * variant, batch 1, no bias).
   */
  rowSumA?: { offset: number; accumulate?: boolean };
  /**
   * GELU in the epilogue. 'apply': C = gelu(v) and `preact` (laid out as C) = v, the
   * pre-activation the backward needs; 'grad': C = v·gelu'(preact), the GELU's backward folded
   * into the product that makes its upstream gradient. v = alpha·op(A)·op(B) + bias. Not with
   * accumulate.
   */
  gelu?: { mode: 'apply' | 'grad'; preact: { buffer: GPUBuffer; offset?: number } };
  /**
   * op(A) is the layernorm of A's rows, (a − mean)·rstd·γ + β over K, taken in the kernel's
   * prologue with layernorm.wgsl's own statistics code, so the product reads the bits the
   * layernorm kernel would have written: a pre-norm linear without a layernorm dispatch. The
   * skinny and subgroup variants (by default the one matmulLayernormVariant names, else skinny),
   * A not transposed, K ≤ MAX_ROW. With `out` (subgroup only, batch 1) the kernel also writes
   * what the layernorm kernel writes for a backward — the normalised rows [M, K], the means [M]
   * and the 1/σ [M], at those offsets (floats) of one buffer — so a training step's pre-norm
   * linear needs no layernorm dispatch either.
   */
  layernorm?: {
    gamma: { buffer: GPUBuffer; offset?: number };
    beta: { buffer: GPUBuffer; offset?: number };
    eps?: number;
    out?: { buffer: GPUBuffer; y: number; mean: number; rstd: number };
  };
  /** Forces a variant (default: chooseMatmulVariant; COCA_MATMUL also forces one). */
  variant?: MatmulVariant;
  /** splitk only: slices of K (default: matmulSplits, enough to fill the device). */
  splits?: number;
  label?: string;
}

const REGBLOCK = { TM: 8, TN: 8 };
const SKINNY_COLS = 4;
/** skinny's rows per invocation: M rounded up to a power of two, at most 8 (one pipeline each). */
const skinnyRows = (M: number) => Math.min(8, 2 ** Math.ceil(Math.log2(M)));
const SUBGROUP = { TM: 32, TN: 8, NSUB: 2 };
/** The subgroup variant's rows of A per lane, TM/SG: 16-byte loads of A stored [K, M] need a multiple of 4. */
const subgroupRowsPerLane = (gpu: Gpu): number => SUBGROUP.TM / gpu.subgroupSize;
/**
 * Subgroups per workgroup of the subgroup variant for N columns: one where two would leave a whole
 * subgroup's SG·TN columns idle in the last column block (N mod 2·SG·TN in 1..SG·TN: nano's 64- and
 * 192-wide products), else two. `coca bench matmul --variant subgroup`, lavapipe (SG 8), one against
 * two interleaved: 2080x64x256 and 256x64x2080 in every layout 1.7-2× faster with one, 2080x192x64
 * 1.1-1.4×; at 256 and 384 columns two were as fast or faster.
 */
const subgroupNsub = (gpu: Gpu, N: number): number => {
  // COCA_SG_NSUB=1 or 2 forces it (the A/B above).
  const forced = gpu.setting('COCA_SG_NSUB');
  if (forced === '1' || forced === '2') return Number(forced);
  const w = gpu.subgroupSize * SUBGROUP.TN;
  const r = N % (SUBGROUP.NSUB * w);
  return r > 0 && r <= w ? 1 : SUBGROUP.NSUB;
};
/**
 * skinny's workgroup width for N output columns: the widest of 64, 32, 16 invocations (SN columns
 * each) that still gives 4 workgroups along n, else 16. A software adapter runs a workgroup on
 * one core: at 64 wide a 128-column product (out_proj, c_proj of a decoding step) was one
 * workgroup on one of the cores. 16 is layernorm's row (ROW_WG), which the LN prologue needs.
 */
export const skinnyWidth = (N: number): number => [64, 32].find((w) => Math.ceil(N / (w * SKINNY_COLS)) >= 4) ?? 16;
/** Whether skinny can share its A loads across subgroups here: a fixed subgroup size that divides its workgroup. */
export const skinnyShufflesA = (gpu: Gpu, N: number): boolean => gpu.subgroupSize > 0 && skinnyWidth(N) % gpu.subgroupSize === 0;
/** Output tile of the workgroup-memory kernels (matmul_tiled128.wgsl) by variant; splitk runs on 64. */
const TILE = { tiled128: 128, tiled64: 64, splitk: 64 } as const;

/** What kind of device this is, for choices that depend on how many workgroups it runs at once. */
export type AdapterClass = 'software' | 'discrete' | 'integrated';

export function adapterClass(gpu: Gpu): AdapterClass {
  if (gpu.software) return 'software';
  // Dawn names the vendor; NVIDIA and AMD parts are (almost always) discrete with ~100 compute units.
  return /nvidia|amd|ati/i.test(gpu.adapter.vendor) ? 'discrete' : 'integrated';
}

/**
 * Workgroups that keep the device busy: lavapipe runs one per core (16 leaves slack for uneven
 * tiles), an integrated GPU has a few dozen compute units, a discrete one ~100 or more (H100/H200:
 * 132 SMs) with two or more resident workgroups each.
 */
export function deviceFill(gpu: Gpu): number {
  return { software: 16, integrated: 32, discrete: 256 }[adapterClass(gpu)];
}

/**
 * Slices of K for splitk: enough tiles in all to fill the device, each slice at least 256 long
 * (a multiple of the kernel's 8-deep K step) so that the partials stay small beside the work, and
 * the partials within one storage binding.
 */
export function matmulSplits(gpu: Gpu, M: number, N: number, K: number, batch = 1, asked?: number): { splits: number; kSlice: number } {
  const tiles = Math.ceil(M / TILE.splitk) * Math.ceil(N / TILE.splitk) * batch;
  const maxByMemory = Math.floor(gpu.limits.maxStorageBufferBindingSize / (4 * batch * M * N));
  const maxByGrid = Math.floor(gpu.limits.maxComputeWorkgroupsPerDimension / batch);
  const want = asked ?? Math.min(Math.ceil(deviceFill(gpu) / tiles), Math.floor(K / 256));
  const s = Math.max(1, Math.min(want, maxByMemory, maxByGrid, Math.ceil(K / 8)));
  const kSlice = Math.ceil(Math.ceil(K / s) / 8) * 8;
  return { splits: Math.ceil(K / kSlice), kSlice };
}

/**
 * The subgroup-matrix configuration `sgmatrix` would use on this device, or null where it cannot
 * run: it needs the experimental feature (with f16 and subgroups) and an f16 → f32 configuration,
 * and maps subgroups to invocations 32 apiece, so the subgroup size must be fixed at 32.
 */
export function sgmatrixConfig(gpu: Gpu): SubgroupMatrixConfig | null {
  if (!gpu.has('chromium-experimental-subgroup-matrix') || !gpu.has('shader-f16') || !gpu.has('subgroups')) return null;
  if (gpu.adapter.subgroupMinSize !== 32 || gpu.adapter.subgroupMaxSize !== 32) return null;
  return pickSubgroupMatrixConfig(gpu.adapter.subgroupMatrixConfigs);
}

export function matmulVariantAvailable(gpu: Gpu, v: MatmulVariant): boolean {
  if (v === 'sgmatrix') return sgmatrixConfig(gpu) !== null;
  if (v !== 'subgroup') return true;
  // The broadcast loop is unrolled per lane, so the subgroup size must be fixed and divide TM.
  return gpu.subgroupSize > 0 && SUBGROUP.TM % gpu.subgroupSize === 0;
}

/**
 * Picks a variant for a shape. Software adapters are load-bound (every per-invocation load is a
 * gather; workgroup memory is no cheaper), so big register blocks and subgroup broadcasts win
 * there; real GPUs want workgroup-memory tiling (../shared/research/perf-ceilings.md).
 */
export function chooseMatmulVariant(gpu: Gpu, M: number, N: number, K: number): MatmulVariant {
  const forced = gpu.setting('COCA_MATMUL');
  if (forced) {
    if (!(MATMUL_VARIANTS as readonly string[]).includes(forced)) {
      throw new ShapeError(`COCA_MATMUL=${forced} is not a matmul variant (${MATMUL_VARIANTS.join(', ')})`);
    }
    return forced as MatmulVariant;
  }
  if (M * N * K < 16 * 16 * 16) return 'naive';
  if (gpu.software) {
    // A decoding step (M = beams or images, a handful): regblock's 64-row tile would compute
    // 64/M times the work (×7.5 slower than skinny on the 1×49408×512 vocabulary projection).
    if (M <= 8) return 'skinny';
    if (matmulVariantAvailable(gpu, 'subgroup') && M >= 16) return 'subgroup';
    return 'regblock';
  }
  // Real GPUs (unmeasured until the run kit meets one; issue 18): the biggest tile that still gives
  // the device enough workgroups, and for thin products with a long K (dW over a batch of tokens)
  // that many slices of K instead.
  const fill = deviceFill(gpu);
  const tiles = (t: number) => Math.ceil(M / t) * Math.ceil(N / t);
  if (M >= 128 && N >= 128 && tiles(128) >= fill / 2) return 'tiled128';
  if (tiles(64) < fill / 4 && K >= 1024 && K >= 4 * Math.max(M, N)) return 'splitk';
  return M >= 32 && N >= 32 ? 'tiled64' : 'naive';
}

/**
 * The variant that would fold a layernorm of A's rows into this product's prologue (the one
 * chooseMatmulVariant picks, where it has such a prologue), or null: skinny or subgroup (whose
 * prologue takes each row's statistics in one invocation, so any subgroup size serves). Only the
 * subgroup one writes the layernorm's outputs for a backward (MatmulCall.layernorm.out); batch 1.
 */
export function matmulLayernormVariant(gpu: Gpu, M: number, N: number, K: number): 'skinny' | 'subgroup' | null {
  if (K > MAX_ROW) return null;
  const v = chooseMatmulVariant(gpu, M, N, K);
  if (v === 'skinny') return v;
  return v === 'subgroup' && matmulVariantAvailable(gpu, 'subgroup') ? v : null;
}

/** Whether a call of this shape (batch 1) can fuse rowSumA: the variant it gets must be the subgroup one. */
export function matmulFusesRowSum(gpu: Gpu, M: number, N: number, K: number): boolean {
  return chooseMatmulVariant(gpu, M, N, K) === 'subgroup' && matmulVariantAvailable(gpu, 'subgroup');
}

/** An operand as messages name it: `A [2, 3]ᵀ`. */
function operand(name: string, t: TensorRef, trans = false): string {
  return `${name} [${t.shape.join(', ')}]${trans ? 'ᵀ' : ''}`;
}

// Module-level, not a closure per call: tsx (keepNames) names every closure a function makes.
const cdiv = (a: number, b: number) => Math.ceil(a / b);

function dims(what: string, shape: readonly number[]): [number, number, number] {
  if (shape.length !== 2 && shape.length !== 3) throw new ShapeError(`matmul: ${what} has shape [${shape.join(', ')}]; expected [rows, cols] or [batch, rows, cols]`);
  for (const d of shape) {
    if (!Number.isInteger(d) || d <= 0) throw new ShapeError(`matmul: ${what} has shape [${shape.join(', ')}]; every dimension must be a positive integer`);
  }
  return shape.length === 3 ? [shape[0]!, shape[1]!, shape[2]!] : [1, shape[0]!, shape[1]!];
}

/** Records C = alpha·op(A)·op(B) (+ bias) (+ C). Checks every shape first. */
export function matmul(gpu: Gpu, call: MatmulCall): void {
  const transA = call.transA ?? false;
  const transB = call.transB ?? false;
  const [bA, rA, cA] = dims('A', call.a.shape);
  const [bB, rB, cB] = dims('B', call.b.shape);
  const [bC, M, N] = dims('C', call.c.shape);
  const [mA, kA] = transA ? [cA, rA] : [rA, cA];
  const [kB, nB] = transB ? [cB, rB] : [rB, cB];
  // Operand names for messages are built only when one is thrown (this runs on every product).
  if (kA !== kB) throw new ShapeError(`matmul: ${operand('A', call.a, transA)} · ${operand('B', call.b, transB)}: inner dimensions ${kA} and ${kB} differ`);
  if (mA !== M || nB !== N) throw new ShapeError(`matmul: ${operand('A', call.a, transA)} · ${operand('B', call.b, transB)} is ${mA}x${nB} but ${operand('C', call.c)} is ${M}x${N}`);
  const batch = Math.max(bA, bB, bC);
  if ((bA !== 1 && bA !== batch) || (bB !== 1 && bB !== batch)) {
    const [name, bx] = bA !== 1 && bA !== batch ? ['A', bA] : ['B', bB];
    throw new ShapeError(`matmul: batch of ${name} (${bx}) differs from the batch ${batch} of ${operand('A', call.a, transA)} · ${operand('B', call.b, transB)} → ${operand('C', call.c)}`);
  }
  if (bC !== batch) throw new ShapeError(`matmul: ${operand('C', call.c)} has batch ${bC} but ${operand('A', call.a, transA)} · ${operand('B', call.b, transB)} has batch ${batch}`);
  const K = kA;
  const offA = call.a.offset ?? 0;
  const offB = call.b.offset ?? 0;
  const offC = call.c.offset ?? 0;
  checkExtent(gpu, 'matmul', () => `A ${describeShape(call.a.shape)}`, call.a.buffer, offA, bA * rA * cA);
  checkExtent(gpu, 'matmul', () => `B ${describeShape(call.b.shape)}`, call.b.buffer, offB, bB * rB * cB);
  checkExtent(gpu, 'matmul', () => `C ${describeShape(call.c.shape)}`, call.c.buffer, offC, batch * M * N);
  if (call.bias) checkExtent(gpu, 'matmul', () => `bias ${describeShape([N])}`, call.bias.buffer, call.bias.offset ?? 0, N);
  checkDistinct('matmul', ['C', call.c], ['A', call.a], ['B', call.b]);
  const rs = call.rowSumA;
  if (rs) {
    if (call.bias) throw new ShapeError('matmul: rowSumA cannot be combined with bias (they share an offset); give one of them');
    if (batch !== 1) throw new ShapeError(`matmul: rowSumA needs batch 1, not ${batch}`);
    checkExtent(gpu, 'matmul', () => `row sums ${describeShape([M])}`, call.c.buffer, rs.offset, M);
    if (rs.offset < offC + M * N && offC < rs.offset + M) throw new ShapeError(`matmul: row sums [${rs.offset}, ${rs.offset + M}) overlap C [${offC}, ${offC + M * N})`);
  }
  if (batch > gpu.limits.maxComputeWorkgroupsPerDimension) {
    throw new ShapeError(`matmul: batch ${batch} exceeds the adapter's ${gpu.limits.maxComputeWorkgroupsPerDimension} workgroups per dimension`);
  }

  const gl = call.gelu;
  if (gl) {
    if (call.accumulate) throw new ShapeError('matmul: a GELU epilogue cannot accumulate into C');
    checkExtent(gpu, 'matmul', () => `pre-activation ${describeShape([batch, M, N])}`, gl.preact.buffer, gl.preact.offset ?? 0, batch * M * N);
    if (gl.mode === 'apply') checkDistinct('matmul', ['pre-activation', gl.preact], ['A', call.a], ['B', call.b], ['C', call.c], ['bias', call.bias]);
    else checkDistinct('matmul', ['C', call.c], ['pre-activation', gl.preact]);
  }
  const ln = call.layernorm;
  if (ln) {
    if (transA) throw new ShapeError('matmul: a layernorm prologue normalises rows of A, which transA stores as columns; give A untransposed');
    if (K > MAX_ROW) throw new ShapeError(`matmul: a layernorm prologue holds rows of at most ${MAX_ROW}, not K = ${K}; run layernorm on its own`);
    checkExtent(gpu, 'matmul', () => `layernorm γ ${describeShape([K])}`, ln.gamma.buffer, ln.gamma.offset ?? 0, K);
    checkExtent(gpu, 'matmul', () => `layernorm β ${describeShape([K])}`, ln.beta.buffer, ln.beta.offset ?? 0, K);
    checkDistinct('matmul', ['C', call.c], ['layernorm γ', ln.gamma], ['layernorm β', ln.beta]);
    if (call.variant && call.variant !== 'skinny' && call.variant !== 'subgroup') throw new ShapeError(`matmul: a layernorm prologue needs the skinny variant, not ${call.variant} (or subgroup, where matmulLayernormVariant offers it)`);
    if (rs) throw new ShapeError('matmul: rowSumA sums op(A), which a layernorm prologue changes; give one of them');
  }
  const variant = call.variant ?? (ln ? (matmulLayernormVariant(gpu, M, N, K) ?? 'skinny') : chooseMatmulVariant(gpu, M, N, K));
  const lnOut = ln?.out;
  if (lnOut) {
    if (variant !== 'subgroup') throw new ShapeError(`matmul: the layernorm's outputs (layernorm.out) are written by the subgroup variant only, not ${variant}`);
    if (batch !== 1) throw new ShapeError(`matmul: the layernorm's outputs (layernorm.out) need batch 1, not ${batch}`);
    const parts: [string, number, number][] = [['normalised rows', lnOut.y, M * K], ['means', lnOut.mean, M], ['1/σ', lnOut.rstd, M]];
    for (const [what, at, n] of parts) checkExtent(gpu, 'matmul', () => `layernorm ${what} ${describeShape([n])}`, lnOut.buffer, at, n);
    for (let i = 0; i < parts.length; i++) {
      for (let j = i + 1; j < parts.length; j++) {
        const [wa, a0, na] = parts[i]!;
        const [wb, b0, nb] = parts[j]!;
        if (a0 < b0 + nb && b0 < a0 + na) throw new ShapeError(`matmul: the layernorm's ${wa} [${a0}, ${a0 + na}) and ${wb} [${b0}, ${b0 + nb}) overlap`);
      }
    }
    checkDistinct('matmul', ['layernorm outputs', lnOut], ['A', call.a], ['B', call.b], ['C', call.c], ['bias', call.bias], ['layernorm γ', ln.gamma], ['layernorm β', ln.beta], ...(gl ? [['pre-activation', gl.preact] as const] : []));
  }
  if (!matmulVariantAvailable(gpu, variant)) {
    throw new ShapeError(
      variant === 'sgmatrix'
        ? 'matmul: variant sgmatrix needs subgroup matrices (chromium-experimental-subgroup-matrix with an f16→f32 configuration and subgroups of 32), which this adapter lacks; use another variant'
        : `matmul: variant ${variant} needs subgroups of a fixed size, which this adapter lacks`,
    );
  }
  if (rs && variant !== 'subgroup') throw new ShapeError(`matmul: rowSumA needs the subgroup variant, not ${variant} (check matmulFusesRowSum first)`);

  const u = new ArrayBuffer(96);
  const u32 = new Uint32Array(u);
  const f32 = new Float32Array(u);
  u32.set([M, N, K, (call.bias ? 1 : 0) | (call.accumulate ? 2 : 0) | (rs?.accumulate ? 4 : 0), cA, cB, N]);
  f32[7] = call.alpha ?? 1;
  u32.set([offA, offB, offC, (rs ?? call.bias)?.offset ?? 0, bA === 1 ? 0 : rA * cA, bB === 1 ? 0 : rB * cB, M * N, gl?.preact.offset ?? 0], 8);
  if (ln) {
    u32.set([ln.gamma.offset ?? 0, ln.beta.offset ?? 0], 18);
    f32[20] = ln.eps ?? LAYERNORM_EPS;
    if (lnOut) u32.set([lnOut.y, lnOut.mean, lnOut.rstd], 21);
  }

  const label = call.label ?? `matmul_${variant}(${batch}x${M}x${N}x${K}${transA ? ',Aᵀ' : ''}${transB ? ',Bᵀ' : ''})`;
  const buffers = [call.a.buffer, call.b.buffer, call.bias?.buffer ?? gpu.unused, call.c.buffer, ...(gl ? [gl.preact.buffer] : [])];
  if (ln) buffers.push(...(gl ? [] : [gpu.unused]), ln.gamma.buffer, ln.beta.buffer, ...(lnOut ? [lnOut.buffer] : []));
  if (variant === 'splitk') {
    splitK(gpu, u, buffers, { M, N, K, batch, transA, transB, gelu: gl?.mode, asked: call.splits, label });
    return;
  }
  if (call.splits !== undefined) throw new ShapeError(`matmul: splits is an option of the splitk variant, not ${variant}`);
  // skinny reads Bᵀ's rows four k at a time where each starts on a 16-byte boundary (B's offset and
  // row length multiples of 4: a batch's stride, rows × row length, then is too), and with a
  // layernorm prologue shares the loads of A, γ and β across a subgroup where it has whole
  // subgroups (matmul_skinny.wgsl). On lavapipe (GPU timestamps, decode shapes, interleaved) the
  // sharing took 10–25 % off the layernorm products and nothing sure off the plain ones (one load
  // of A per k against three), and with B untransposed (scalar B loads) it ran ×5 slower: hence
  // only with both. COCA_VEC4B=0 and COCA_SKINNY_SG=0 turn either off (tests compare the bits).
  // The subgroup variant reads A stored [K, M] and B stored [K, N] (dW = dyᵀ·x, dx = dy·W) four
  // rows or columns at a time where they start on 16-byte boundaries and M or N is a multiple of
  // 4 (matmul_subgroups.wgsl); COCA_SG_VEC4=0 turns that off.
  const vec4B = variant === 'skinny'
    ? transB && gpu.setting('COCA_VEC4B') !== '0' && offB % 4 === 0 && cB % 4 === 0
    : variant === 'subgroup' && !transB && N % 4 === 0 && offB % 4 === 0 && cB % 4 === 0 && gpu.setting('COCA_SG_VEC4') !== '0';
  const vec4A = variant === 'subgroup' && transA && M % 4 === 0 && offA % 4 === 0 && cA % 4 === 0 && subgroupRowsPerLane(gpu) % 4 === 0 && gpu.setting('COCA_SG_VEC4') !== '0';
  const shuffleA = vec4B && !!ln && skinnyShufflesA(gpu, N) && gpu.setting('COCA_SKINNY_SG') !== '0';
  const lnK = ln ? K : undefined;
  const choice: KernelChoice = { variant, transA, transB, rowSum: !!rs, gelu: gl?.mode, M, N, lnK, lnOut: !!lnOut, vec4B, shuffleA, vec4A };
  const kernel = gpu.kernelBy(kernelKey(gpu, choice), () => kernelSpec(gpu, choice));
  gpu.dispatch(kernel, u32, buffers, workgroups(variant, gpu, M, N, batch), label);
}

/**
 * splitk: the slices' partial sums into a scratch [batch·splits, M, N], then one pass that adds
 * them in order and applies the epilogue into C. `u` holds the call's Params; buffers are
 * A, B, bias, C (, pre-activation).
 */
function splitK(gpu: Gpu, u: ArrayBuffer, buffers: GPUBuffer[], c: { M: number; N: number; K: number; batch: number; transA: boolean; transB: boolean; gelu?: 'apply' | 'grad'; asked?: number; label: string }): void {
  const { M, N, K, batch } = c;
  if (c.asked !== undefined && (!Number.isInteger(c.asked) || c.asked < 1)) throw new ShapeError(`matmul: splits must be a positive integer, not ${c.asked}`);
  const { splits, kSlice } = matmulSplits(gpu, M, N, K, batch, c.asked);
  if (batch * M * N * 4 > gpu.limits.maxStorageBufferBindingSize) {
    throw new ShapeError(`matmul: splitk's partials for [${batch}, ${M}, ${N}] exceed the adapter's storage-binding limit; use another variant`);
  }
  const part = gpu.alloc(batch * splits * M * N, `${c.label}:partials`);
  const u1 = new Uint32Array(u.slice(0));
  u1[10] = 0; // partials from offset 0, [batch·splits, M, N]
  u1[16] = splits;
  u1[17] = kSlice;
  const t = { TRANS_A: c.transA, TRANS_B: c.transB };
  const partial: KernelSpec = { file: 'matmul_tiled128', entry: 'matmul_tiled128', defines: { ...t, TILE: TILE.splitk, SPLITK: true }, bindings: ['read', 'read', 'read', 'rw'] };
  gpu.dispatch(gpu.kernel(partial), u1, [buffers[0]!, buffers[1]!, gpu.unused, part], [Math.ceil(N / TILE.splitk), Math.ceil(M / TILE.splitk), batch * splits], `${c.label}/${splits}`);
  const u2 = new Uint32Array(u.slice(0));
  u2[8] = 0; // A: the partials
  u2[12] = 0;
  u2[16] = splits;
  const reduce: KernelSpec = { file: 'matmul_tiled128', entry: 'matmul_splitk_reduce', defines: geluDefines(c.gelu), bindings: epilogueBindings(c.gelu) };
  const [gx, gy] = grid2d(gpu, Math.ceil((M * N) / 256));
  gpu.dispatch(gpu.kernel(reduce), u2, [part, gpu.unused, buffers[2]!, buffers[3]!, ...buffers.slice(4)], [gx, gy, batch], `${c.label}:reduce`);
  gpu.release(part);
}

/** The epilogue's GELU as shader defines, and the bindings a kernel with that epilogue takes (A, B, bias, C, and the pre-activation: written by 'apply', read by 'grad'). */
export const geluDefines = (mode?: 'apply' | 'grad'): Defines => (mode === 'apply' ? { GELU_OUT: true } : mode === 'grad' ? { GELU_GRAD: true } : {});
export const epilogueBindings = (mode?: 'apply' | 'grad'): KernelSpec['bindings'] => ['read', 'read', 'read', 'rw', ...(mode ? [mode === 'apply' ? ('rw' as const) : ('read' as const)] : [])];

/**
 * What picks a matmul kernel (kernelSpec, kernelKey): the variant and transposes, the fusions
 * (rowSum, gelu, a layernorm prologue of rows `lnK` long, its outputs `lnOut`), and the forms its
 * loads take (vec4B, shuffleA, vec4A: matmul() decides them from the alignment). `M` sizes
 * skinny's row block (its pipeline differs per power of two up to 8) and `N` its workgroup width
 * (skinnyWidth) and the subgroup variant's subgroups per workgroup. A layernorm prologue's row
 * layout is layernorm's own kernel's (rowLayout), so that both sum in the same order.
 */
export interface KernelChoice {
  variant: MatmulVariant;
  transA: boolean;
  transB: boolean;
  rowSum?: boolean;
  gelu?: 'apply' | 'grad';
  M?: number;
  N?: number;
  lnK?: number;
  lnOut?: boolean;
  vec4B?: boolean;
  shuffleA?: boolean;
  vec4A?: boolean;
}

export function kernelSpec(gpu: Gpu, c: KernelChoice): KernelSpec {
  const { variant, transA, transB, rowSum = false, gelu, M = 8, lnK, lnOut = false, N = 256, vec4B = false, shuffleA = false, vec4A = false } = c;
  const bindings = epilogueBindings(gelu);
  const t = { TRANS_A: transA, TRANS_B: transB, ...geluDefines(gelu) };
  // A layernorm prologue's row layout (layernorm's own, so both sum in the same order) and its
  // bindings past the epilogue's: γ and β at 6 and 7 (5 held by gpu.unused without GELU), then
  // the outputs for a backward at 8.
  const lnDefines = (k: number) => ({ LN: true, WG: ROW_WG, VPT: rowLayout(gpu, 'matmul', [1, k]).vpt, ...(lnOut ? { LN_OUT: true } : {}) });
  const lnBindings = (): KernelSpec['bindings'] => [...bindings, ...(gelu ? [] : ['read' as const]), 'read', 'read', ...(lnOut ? ['rw' as const] : [])];
  switch (variant) {
    case 'naive':
    case 'tiled':
      return { file: 'matmul', entry: `matmul_${variant}`, defines: t, bindings };
    case 'regblock':
      return { file: 'matmul', entry: 'matmul_regblock', defines: { ...t, ...REGBLOCK }, bindings };
    case 'subgroup': {
      const v4 = { ...(vec4A ? { VEC4A: true } : {}), ...(vec4B ? { VEC4B: true } : {}) };
      const spec: KernelSpec = { file: 'matmul_subgroups', entry: 'matmul_subgroup', defines: { ...t, SG: gpu.subgroupSize, ...SUBGROUP, NSUB: subgroupNsub(gpu, N), ...v4, ...(rowSum ? { ROWSUM: true } : {}) }, bindings };
      return lnK === undefined ? spec : { ...spec, defines: { ...spec.defines, ...lnDefines(lnK) }, bindings: lnBindings() };
    }
    case 'tiled128':
    case 'tiled64':
      return { file: 'matmul_tiled128', entry: 'matmul_tiled128', defines: { ...t, TILE: TILE[variant] }, bindings };
    case 'splitk':
      throw new ShapeError('matmul: splitk runs as two kernels (matmul() dispatches them); it has no single kernel spec');
    case 'skinny': {
      const spec: KernelSpec = {
        file: shuffleA ? 'matmul_skinny_sg' : 'matmul',
        entry: 'matmul_skinny',
        defines: { ...t, MR: skinnyRows(M), SN: SKINNY_COLS, SKW: skinnyWidth(N), ...(vec4B ? { VEC4B: true } : {}), ...(shuffleA ? { SG: gpu.subgroupSize } : {}) },
        bindings,
      };
      return lnK === undefined ? spec : { ...spec, defines: { ...spec.defines, ...lnDefines(lnK) }, bindings: lnBindings() };
    }
    case 'sgmatrix': {
      const c = sgmatrixConfig(gpu)!;
      return { file: 'matmul_sgmatrix', entry: 'matmul_sgmatrix', defines: { ...t, SM_M: c.M, SM_N: c.N, SM_K: c.K }, bindings };
    }
  }
}

/**
 * A short key for kernelSpec's result with the same choice (on one device), for gpu.kernelBy:
 * everything the spec depends on, M and N only through skinny's row block and width and the
 * subgroup variant's subgroups per workgroup.
 */
export function kernelKey(gpu: Gpu, c: KernelChoice): string {
  const { variant, transA, transB, rowSum = false, gelu, M = 8, lnK, lnOut = false, N = 256, vec4B = false, shuffleA = false, vec4A = false } = c;
  const key = `matmul:${variant}:${transA ? 1 : 0}${transB ? 1 : 0}${rowSum ? 1 : 0}${lnOut ? 1 : 0}:${gelu ?? ''}:${lnK ?? ''}`;
  if (variant === 'subgroup') return `${key}:${subgroupNsub(gpu, N)}:${vec4A ? 1 : 0}${vec4B ? 1 : 0}`;
  return variant === 'skinny' ? `${key}:${skinnyRows(M)}:${skinnyWidth(N)}:${vec4B ? 1 : 0}${shuffleA ? 1 : 0}` : key;
}

function workgroups(variant: MatmulVariant, gpu: Gpu, M: number, N: number, batch: number): [number, number, number] {
  switch (variant) {
    case 'naive':
      return [cdiv(N, 16), cdiv(M, 16), batch];
    case 'tiled':
      return [cdiv(N, 64), cdiv(M, 64), batch];
    case 'regblock':
      return [cdiv(N, 8 * REGBLOCK.TN), cdiv(M, 8 * REGBLOCK.TM), batch];
    case 'subgroup':
      return [cdiv(N, subgroupNsub(gpu, N) * gpu.subgroupSize * SUBGROUP.TN), cdiv(M, SUBGROUP.TM), batch];
    case 'tiled128':
    case 'tiled64':
    case 'splitk':
      return [cdiv(N, TILE[variant]), cdiv(M, TILE[variant]), batch];
    case 'skinny':
      return [cdiv(N, skinnyWidth(N) * SKINNY_COLS), cdiv(M, skinnyRows(M)), batch];
    case 'sgmatrix':
      return [cdiv(N, 64), cdiv(M, 64), batch];
  }
}

/** FLOPs of one call: 2·M·N·K per batch element (an FMA counts as two). */
export function matmulFlops(M: number, N: number, K: number, batch = 1): number {
  return 2 * M * N * K * batch;
}
