// Host side of the mixed-precision products (shaders/matmul_f16.wgsl): C (f32) = alpha·op(A)·op(B)
// (+ bias) (+ C) with f16 operands and f32 accumulation, each operand stored as f16 (`half`) or
// as f32 rounded on load; and the f32 → f16 cast that makes a weight's f16 copy.
// Where the adapter has subgroup matrices, the product goes to matmul's `sgmatrix` variant
// (tensor cores; f32 storage rounded on load) instead, so stored halves are not used there.
import type { Gpu, KernelSpec } from '../src/gpu/gpu.ts';
import { ShapeError } from '../src/gpu/errors.ts';
import { checkDistinct, checkExtent, describeShape, grid2d, type TensorRef } from './common.ts';
import { epilogueBindings, geluDefines, matmul, sgmatrixConfig, type MatmulCall } from './matmul.ts';

export const MATMUL_F16_KERNELS = ['tiled', 'regblock', 'sgmatrix'] as const;
export type MatmulF16Kernel = (typeof MATMUL_F16_KERNELS)[number];

/** An operand of a mixed product: f32 (rounded to f16 as it is read) or f16 (`half`; offset in halves). */
export interface HalfOrFloatRef extends TensorRef {
  half?: boolean;
}

export interface MatmulF16Call extends Omit<MatmulCall, 'a' | 'b' | 'c' | 'rowSumA' | 'variant'> {
  a: HalfOrFloatRef;
  b: HalfOrFloatRef;
  /** The output: f32, or f16 (`half`: stored rounded, for a product that reads it next). */
  c: HalfOrFloatRef;
  /** Forces a kernel (default chooseMatmulF16Kernel). */
  kernel?: MatmulF16Kernel;
}

/** The message for an adapter without shader-f16: one line, what to do. */
export function noShaderF16(gpu: Gpu, what: string): string {
  const name = gpu.adapter.description || gpu.adapter.device || 'this adapter';
  return `${what} needs the shader-f16 feature, which ${name} lacks; use f32 (--precision f32)`;
}

/**
 * The kernel of a mixed product on this adapter: subgroup matrices (tensor cores) where there are
 * some; else register blocks straight from storage on a software adapter (load-bound), workgroup
 * tiles on a real GPU. COCA_MATMUL_F16 forces one.
 */
export function chooseMatmulF16Kernel(gpu: Gpu): MatmulF16Kernel {
  const forced = gpu.setting('COCA_MATMUL_F16');
  if (forced) {
    if (!(MATMUL_F16_KERNELS as readonly string[]).includes(forced)) throw new ShapeError(`COCA_MATMUL_F16=${forced} is not an f16 matmul kernel (${MATMUL_F16_KERNELS.join(', ')})`);
    return forced as MatmulF16Kernel;
  }
  if (sgmatrixConfig(gpu)) return 'sgmatrix';
  return gpu.software ? 'regblock' : 'tiled';
}

/** Whether the products of this adapter read stored f16 operands (not where they run on sgmatrix, which reads f32). */
export function matmulF16ReadsHalves(gpu: Gpu): boolean {
  return chooseMatmulF16Kernel(gpu) !== 'sgmatrix';
}

function dims(what: string, shape: readonly number[]): [number, number, number] {
  if (shape.length !== 2 && shape.length !== 3) throw new ShapeError(`matmul_f16: ${what} has shape ${describeShape(shape)}; expected [rows, cols] or [batch, rows, cols]`);
  for (const d of shape) {
    if (!Number.isInteger(d) || d <= 0) throw new ShapeError(`matmul_f16: ${what} has shape ${describeShape(shape)}; every dimension must be a positive integer`);
  }
  return shape.length === 3 ? [shape[0]!, shape[1]!, shape[2]!] : [1, shape[0]!, shape[1]!];
}

/** Halves from `offset` halves must lie in the buffer (checkExtent counts floats). */
function checkHalves(gpu: Gpu, desc: string, buffer: GPUBuffer, offset: number, halves: number): void {
  if (!Number.isInteger(offset) || offset < 0) throw new ShapeError(`matmul_f16: ${desc} has offset ${offset}; it must be a non-negative integer`);
  if ((offset + halves) * 2 > buffer.size) throw new ShapeError(`matmul_f16: ${desc} needs ${halves} halves from offset ${offset} but its buffer "${buffer.label}" holds ${Math.floor(buffer.size / 2)}`);
  if ((offset + halves) * 2 > gpu.limits.maxStorageBufferBindingSize) throw new ShapeError(`matmul_f16: ${desc} is over the adapter's storage-binding limit; split it`);
}

/** Records C = alpha·op(A)·op(B) (+ bias) (+ C) of f16 operands, accumulated in f32. Checks every shape first. */
export function matmulF16(gpu: Gpu, call: MatmulF16Call): void {
  if (!gpu.has('shader-f16')) throw new ShapeError(noShaderF16(gpu, 'matmul_f16'));
  const kernel = call.kernel ?? chooseMatmulF16Kernel(gpu);
  if (kernel === 'sgmatrix') {
    if (call.a.half || call.b.half || call.c.half) throw new ShapeError('matmul_f16: the sgmatrix kernel reads and writes f32 (rounding the operands itself); give f32 ones');
    matmul(gpu, { ...call, variant: 'sgmatrix' });
    return;
  }
  const transA = call.transA ?? false;
  const transB = call.transB ?? false;
  const [bA, rA, cA] = dims('A', call.a.shape);
  const [bB, rB, cB] = dims('B', call.b.shape);
  const [bC, M, N] = dims('C', call.c.shape);
  const [mA, kA] = transA ? [cA, rA] : [rA, cA];
  const [kB, nB] = transB ? [cB, rB] : [rB, cB];
  const ops = `A ${describeShape(call.a.shape)}${transA ? 'ᵀ' : ''} · B ${describeShape(call.b.shape)}${transB ? 'ᵀ' : ''}`;
  if (kA !== kB) throw new ShapeError(`matmul_f16: ${ops}: inner dimensions ${kA} and ${kB} differ`);
  if (mA !== M || nB !== N) throw new ShapeError(`matmul_f16: ${ops} is ${mA}x${nB} but C ${describeShape(call.c.shape)} is ${M}x${N}`);
  const batch = Math.max(bA, bB, bC);
  for (const [name, bx] of [['A', bA], ['B', bB]] as const) {
    if (bx !== 1 && bx !== batch) throw new ShapeError(`matmul_f16: batch of ${name} (${bx}) differs from the batch ${batch} of ${ops}`);
  }
  if (bC !== batch) throw new ShapeError(`matmul_f16: C ${describeShape(call.c.shape)} has batch ${bC} but ${ops} has batch ${batch}`);
  if (batch > gpu.limits.maxComputeWorkgroupsPerDimension) throw new ShapeError(`matmul_f16: batch ${batch} exceeds the adapter's ${gpu.limits.maxComputeWorkgroupsPerDimension} workgroups per dimension`);
  const K = kA;
  const [offA, offB, offC] = [call.a.offset ?? 0, call.b.offset ?? 0, call.c.offset ?? 0];
  for (const [name, t, n] of [['A', call.a, bA * rA * cA], ['B', call.b, bB * rB * cB]] as const) {
    if (t.half) checkHalves(gpu, `${name} ${describeShape(t.shape)}`, t.buffer, t.offset ?? 0, n);
    else checkExtent(gpu, 'matmul_f16', () => `${name} ${describeShape(t.shape)}`, t.buffer, t.offset ?? 0, n);
  }
  if (call.c.half) checkHalves(gpu, `C ${describeShape(call.c.shape)}`, call.c.buffer, offC, batch * M * N);
  else checkExtent(gpu, 'matmul_f16', () => `C ${describeShape(call.c.shape)}`, call.c.buffer, offC, batch * M * N);
  if (call.bias) checkExtent(gpu, 'matmul_f16', () => `bias ${describeShape([N])}`, call.bias.buffer, call.bias.offset ?? 0, N);
  checkDistinct('matmul_f16', ['C', call.c], ['A', call.a], ['B', call.b]);
  const gl = call.gelu;
  if (gl) {
    if (call.accumulate) throw new ShapeError('matmul_f16: a GELU epilogue cannot accumulate into C');
    checkExtent(gpu, 'matmul_f16', () => `pre-activation ${describeShape([batch, M, N])}`, gl.preact.buffer, gl.preact.offset ?? 0, batch * M * N);
    if (gl.mode === 'apply') checkDistinct('matmul_f16', ['pre-activation', gl.preact], ['A', call.a], ['B', call.b], ['C', call.c], ['bias', call.bias]);
    else checkDistinct('matmul_f16', ['C', call.c], ['pre-activation', gl.preact]);
  }

  // matmul_f16.wgsl's Params: matmul_common's first 16 words, packed as kernels/matmul.ts packs them.
  const u32 = new Uint32Array(16);
  u32.set([M, N, K, (call.bias ? 1 : 0) | (call.accumulate ? 2 : 0), cA, cB, N]);
  new Float32Array(u32.buffer)[7] = call.alpha ?? 1;
  u32.set([offA, offB, offC, call.bias?.offset ?? 0, bA === 1 ? 0 : rA * cA, bB === 1 ? 0 : rB * cB, M * N, gl?.preact.offset ?? 0], 8);
  const spec = matmulF16Spec(kernel, transA, transB, !!call.a.half, !!call.b.half, gl?.mode, !!call.c.half);
  const buffers = [call.a.buffer, call.b.buffer, call.bias?.buffer ?? gpu.unused, call.c.buffer, ...(gl ? [gl.preact.buffer] : [])];
  const cdiv = (a: number, b: number) => Math.ceil(a / b);
  // Both kernels cover a 64x64 output tile per workgroup (16x16 invocations × 4x4, 8x8 × 8x8).
  const groups: [number, number, number] = [cdiv(N, 64), cdiv(M, 64), batch];
  const halves = `${call.a.half ? 'h' : 'f'}${call.b.half ? 'h' : 'f'}→${call.c.half ? 'h' : 'f'}`;
  gpu.dispatch(gpu.kernel(spec), u32, buffers, groups, call.label ? `${call.label}[f16]` : `matmul_f16_${kernel}(${batch}x${M}x${N}x${K},${halves}${transA ? ',Aᵀ' : ''}${transB ? ',Bᵀ' : ''})`);
}

export function matmulF16Spec(kernel: 'tiled' | 'regblock', transA: boolean, transB: boolean, aHalf: boolean, bHalf: boolean, gelu?: 'apply' | 'grad', cHalf = false): KernelSpec {
  const bindings = epilogueBindings(gelu);
  const defines = { TRANS_A: transA, TRANS_B: transB, A_F16: aHalf, B_F16: bHalf, ...(cHalf ? { C_F16: true } : {}), ...geluDefines(gelu) };
  return { file: 'matmul_f16', entry: `matmul_f16_${kernel}`, defines, bindings };
}

/** Bytes of a buffer holding `n` halves (storage buffers are sized in words). */
export const halfBufferFloats = (n: number): number => Math.ceil(n / 2);

/**
 * Records dst[dstOffset + i] = f16(src[srcOffset + i]) for i < n: ±Inf past f16's range, NaN kept.
 * `dst` is an f16 buffer (offsets in halves).
 */
export function castToF16(gpu: Gpu, src: { buffer: GPUBuffer; offset?: number }, dst: { buffer: GPUBuffer; offset?: number }, n: number, label = 'cast_f16'): void {
  if (!gpu.has('shader-f16')) throw new ShapeError(noShaderF16(gpu, 'cast_f16'));
  if (!Number.isInteger(n) || n <= 0) throw new ShapeError(`cast_f16: ${n} elements; give a positive integer`);
  checkExtent(gpu, 'cast_f16', () => `source of ${n}`, src.buffer, src.offset ?? 0, n);
  checkHalves(gpu, `destination of ${n}`, dst.buffer, dst.offset ?? 0, n);
  if (src.buffer === dst.buffer) throw new ShapeError('cast_f16: the f16 copy must not share a buffer with its source');
  const u32 = new Uint32Array(16);
  u32[0] = n;
  u32[8] = src.offset ?? 0;
  u32[10] = dst.offset ?? 0;
  const k = gpu.kernel({ file: 'matmul_f16', entry: 'cast_f16', bindings: ['read', 'rw'] });
  gpu.dispatch(k, u32, [src.buffer, dst.buffer], grid2d(gpu, Math.ceil(n / 128)), `${label}(${n})`);
}
