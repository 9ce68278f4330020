// What every launcher shares: the tensor reference, the checks run before anything is recorded
// (dimensions, offsets, the buffer's size and the adapter's binding limit, outputs that alias
// inputs), the 2-D workgroup grid, and the register-row layout of the row-wise families.
import type { Gpu } from '../src/gpu/gpu.ts';
import { ShapeError } from '../src/gpu/errors.ts';

/** A float32 tensor in a GPU buffer: row-major `shape`, first element at `offset` floats. */
export interface TensorRef {
  buffer: GPUBuffer;
  shape: readonly number[];
  /** Offset of the first element, in floats. */
  offset?: number;
}

/**
 * Whether `rows` is within the most a fusion takes: the number the setting `name` holds (0: never;
 * the A/B scripts raise it), else `most`.
 */
export function rowsWithin(gpu: Gpu, name: string, rows: number, most: number): boolean {
  const s = gpu.setting(name);
  return rows <= (s !== undefined && /^\d+$/.test(s) ? Number(s) : most);
}

export const describeShape = (shape: readonly number[]): string => `[${shape.join(', ')}]`;

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Rows and columns of a tensor seen as a matrix over its last axis: [..., C] → [Π..., C]. */
export function rowsCols(shape: readonly number[]): [number, number] {
  const cols = shape[shape.length - 1] ?? 1;
  return [numel(shape) / cols, cols];
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/**
 * What names an operand in a message: the text, a function making it, or a name and a shape —
 * the text built only if thrown (checks run on every dispatch).
 */
export type Described = string | (() => string) | { name: string; shape: readonly number[] };
function described(d: Described): string {
  return typeof d === 'string' ? d : typeof d === 'function' ? d() : `${d.name} ${describeShape(d.shape)}`;
}

/**
 * Checks that `floats` floats from `offset` lie inside `buffer` and within the adapter's
 * storage-binding limit (a binding past it fails validation far from the call). `desc` names the
 * operand in the message.
 */
export function checkExtent(gpu: Gpu, op: string, desc: Described, buffer: GPUBuffer, offset: number, floats: number): void {
  if (!Number.isInteger(offset) || offset < 0) throw new ShapeError(`${op}: ${described(desc)} has offset ${offset}; it must be a non-negative integer`);
  const bytes = (offset + floats) * 4;
  if (bytes > buffer.size) throw new ShapeError(`${op}: ${described(desc)} needs ${floats} floats from offset ${offset} but its buffer "${buffer.label}" holds ${Math.floor(buffer.size / 4)}`);
  const limit = gpu.limits.maxStorageBufferBindingSize;
  if (bytes > limit) {
    throw new ShapeError(`${op}: ${described(desc)} spans ${(bytes / 2 ** 20).toFixed(1)} MiB, over the adapter's ${(limit / 2 ** 20).toFixed(0)} MiB storage-binding limit; split it`);
  }
}

/**
 * Checks that `t` is a well-formed tensor (of shape `expect`, when given) fitting its buffer and
 * the binding limit; returns its offset and element count. `op` and `name` go into the message.
 */
export function checkTensor(gpu: Gpu, op: string, name: string, t: TensorRef, expect?: readonly number[]): { offset: number; n: number } {
  // The message text is built only when thrown; no closure either (tsx names every one a call makes).
  if (expect && !sameShape(t.shape, expect)) throw new ShapeError(`${op}: ${name} ${describeShape(t.shape)} should be ${describeShape(expect)}`);
  let n = 1;
  for (const d of t.shape) {
    if (!Number.isInteger(d) || d <= 0) throw new ShapeError(`${op}: ${name} ${describeShape(t.shape)}: every dimension must be a positive integer`);
    n *= d;
  }
  const offset = t.offset ?? 0;
  checkExtent(gpu, op, { name, shape: t.shape }, t.buffer, offset, n);
  return { offset, n };
}

type Operand = { buffer: GPUBuffer } | GPUBuffer | undefined;
const bufferOf = (x: Operand): GPUBuffer | undefined => (x && 'buffer' in x ? x.buffer : x);

/** Throws unless `out` may be written while the inputs are read (WebGPU forbids the aliasing). */
export function checkDistinct(op: string, out: readonly [string, Operand], ...inputs: (readonly [string, Operand])[]): void {
  const o = bufferOf(out[1]);
  for (const [name, t] of inputs) {
    if (o && bufferOf(t) === o) throw new ShapeError(`${op}: ${out[0]} must not share a buffer with ${name} (the kernel reads ${name} while writing ${out[0]})`);
  }
}

/** A 2-D workgroup grid covering `groups` workgroups, for ranges past 65535 of them (shaders number them x + y·nwg.x). */
export function grid2d(gpu: Gpu, groups: number): [number, number] {
  const maxX = gpu.limits.maxComputeWorkgroupsPerDimension;
  if (groups <= maxX) return [groups, 1];
  const y = Math.ceil(groups / maxX);
  return [Math.ceil(groups / y), y];
}

// ---- rows held in registers (softmax, layernorm) ----------------------------------------------

/**
 * Invocations per row (the shaders' WG, passed as a define); each holds VPT vec4s of the row in
 * registers. 16 measured best on lavapipe at 1024-wide rows (layernorm 2x faster than 8 or 32):
 * every invocation folds all WG partials, so the fold costs WG² loads against the row's cols/4.
 */
export const ROW_WG = 16;
const MAX_VPT = 64;
/** Longest row the register-resident kernels take: ROW_WG · 4 · MAX_VPT. */
export const MAX_ROW = ROW_WG * 4 * MAX_VPT;

export interface RowLayout {
  rows: number;
  cols: number;
  /** vec4s per invocation, a power of two so few pipelines get built. */
  vpt: number;
  /** Rows one workgroup walks. */
  rpw: number;
  grid: [number, number];
}

/**
 * Picks the register block and rows per workgroup for [rows, cols]. Several rows per workgroup
 * let a kernel keep per-column data (layernorm's γ, β) in registers across rows; on a software
 * adapter a few hundred workgroups already keep every core busy, a GPU wants thousands.
 */
export function rowLayout(gpu: Gpu, op: string, shape: readonly number[]): RowLayout {
  const [rows, cols] = rowsCols(shape);
  if (cols > MAX_ROW) throw new ShapeError(`${op}: rows of ${cols} (shape ${describeShape(shape)}) exceed the ${MAX_ROW} this kernel holds in registers`);
  let vpt = 1;
  while (vpt * 4 * ROW_WG < cols) vpt *= 2;
  const rpw = Math.max(1, Math.min(16, Math.floor(rows / (gpu.software ? 256 : 4096))));
  return { rows, cols, vpt, rpw, grid: grid2d(gpu, Math.ceil(rows / rpw)) };
}
