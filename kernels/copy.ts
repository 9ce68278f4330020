// Host side of the strided block copy (shaders/copy.wgsl).
import type { Gpu } from '../src/gpu/gpu.ts';
import { ShapeError } from '../src/gpu/errors.ts';
import { grid2d } from './common.ts';

/** Where a B x R x C block sits in a buffer, in floats. A batch stride of 0 broadcasts. */
export interface BlockLayout {
  offset: number;
  batchStride: number;
  rowStride: number;
}

export interface CopyRowsCall {
  src: GPUBuffer;
  dst: GPUBuffer;
  B: number;
  R: number;
  C: number;
  srcLayout: BlockLayout;
  dstLayout: BlockLayout;
  /** dst += src instead of dst = src. */
  accumulate?: boolean;
  /** Copies src + add (a block of the same B x R x C in its own layout) instead of src. */
  add?: { buffer: GPUBuffer; layout: BlockLayout };
  label?: string;
}

function extent(l: BlockLayout, B: number, R: number, C: number): number {
  return l.offset + (B - 1) * l.batchStride + (R - 1) * l.rowStride + C;
}

export function copyRows(gpu: Gpu, c: CopyRowsCall): void {
  const name = c.label ?? 'copy_rows';
  for (const [k, v] of [['B', c.B], ['R', c.R], ['C', c.C]] as const) {
    if (!Number.isInteger(v) || v <= 0) throw new ShapeError(`${name}: ${k} = ${v}; block dimensions must be positive integers`);
  }
  if (c.src === c.dst) throw new ShapeError(`${name}: source and destination must be different buffers`);
  if (c.add?.buffer === c.dst) throw new ShapeError(`${name}: the added block and the destination must be different buffers`);
  const blocks: [string, GPUBuffer, BlockLayout][] = [['src', c.src, c.srcLayout], ['dst', c.dst, c.dstLayout], ...(c.add ? [['added', c.add.buffer, c.add.layout] as [string, GPUBuffer, BlockLayout]] : [])];
  for (const [what, buf, l] of blocks) {
    const need = extent(l, c.B, c.R, c.C) * 4;
    if (need > buf.size) throw new ShapeError(`${name}: a ${c.B}x${c.R}x${c.C} block at ${JSON.stringify(l)} needs ${need} bytes of ${what} "${buf.label}", which holds ${buf.size}`);
    if (need > gpu.limits.maxStorageBufferBindingSize) throw new ShapeError(`${name}: ${what} block spans more than the storage-binding limit`);
  }
  const a = c.add?.layout ?? { offset: 0, batchStride: 0, rowStride: 0 };
  const u = new Uint32Array([c.B, c.R, c.C, c.accumulate ? 1 : 0, c.srcLayout.offset, c.srcLayout.batchStride, c.srcLayout.rowStride, 0, c.dstLayout.offset, c.dstLayout.batchStride, c.dstLayout.rowStride, 0, a.offset, a.batchStride, a.rowStride, 0]);
  const k = gpu.kernel(c.add ? { file: 'copy', entry: 'copy_rows', defines: { ADD: true }, bindings: ['read', 'rw', 'read'] } : { file: 'copy', entry: 'copy_rows', bindings: ['read', 'rw'] });
  gpu.dispatch(k, u, [c.src, c.dst, ...(c.add ? [c.add.buffer] : [])], grid2d(gpu, Math.ceil((c.B * c.R * c.C) / 256)), `${name}(${c.B}x${c.R}x${c.C}${c.add ? ', +add' : ''})`);
}
