// Host side of greedy decoding's device pick (shaders/argmax.wgsl).
import type { Gpu } from '../src/gpu/gpu.ts';
import { ShapeError } from '../src/gpu/errors.ts';
import { checkTensor, type TensorRef } from './common.ts';

/** The masks of src/infer/search.ts adjust(), repetition penalty aside. */
export interface PickMasks {
  /** Never picked (-1: no padding id). */
  pad: number;
  /** Never picked unless sotAllowed. */
  sot: number;
  sotAllowed: boolean;
  eot: number;
  /** [EOT] is held back (the caption is shorter than min-len). */
  maskEot: boolean;
  /** Never picked: a buffer of u32 ids and how many (0: none; the buffer is then unused). */
  banned: { buffer: GPUBuffer; count: number } | null;
}

export interface ArgmaxCall {
  /** [N, V] logits. */
  logits: TensorRef;
  /** N u32 ids: the previous pick of each row; a row whose previous pick was [EOT] gets [EOT]. */
  prev: { buffer: GPUBuffer; offset?: number } | null;
  /** N u32 ids written here, from word `offset`. */
  out: { buffer: GPUBuffer; offset?: number };
  masks: PickMasks;
  label?: string;
}

const NONE = 0xffffffff;

export function argmaxRows(gpu: Gpu, c: ArgmaxCall): void {
  const fn = c.label ?? 'argmax';
  if (c.logits.shape.length !== 2) throw new ShapeError(`${fn}: logits [${c.logits.shape.join(', ')}] should be [rows, vocab]`);
  const [N, V] = c.logits.shape as [number, number];
  const offLogits = checkTensor(gpu, fn, 'logits', c.logits).offset;
  const m = c.masks;
  for (const [what, id] of [['eot', m.eot], ['sot', m.sot]] as const) {
    if (!Number.isInteger(id) || id < 0 || id >= V) throw new ShapeError(`${fn}: ${what} id ${id} is outside the vocabulary [0, ${V})`);
  }
  if (!Number.isInteger(m.pad) || m.pad < -1 || m.pad >= V) throw new ShapeError(`${fn}: pad id ${m.pad} must be -1 or in [0, ${V})`);
  const offOut = c.out.offset ?? 0;
  const offPrev = c.prev?.offset ?? 0;
  if ((offOut + N) * 4 > c.out.buffer.size) throw new ShapeError(`${fn}: ${N} ids from word ${offOut} do not fit "${c.out.buffer.label}" (${c.out.buffer.size} bytes)`);
  if (c.prev && (offPrev + N) * 4 > c.prev.buffer.size) throw new ShapeError(`${fn}: ${N} previous ids from word ${offPrev} do not fit "${c.prev.buffer.label}"`);
  if (c.prev?.buffer === c.out.buffer) throw new ShapeError(`${fn}: previous and new ids must be different buffers`);
  const banned = m.banned && m.banned.count > 0 ? m.banned : null;
  if (banned && banned.count * 4 > banned.buffer.size) throw new ShapeError(`${fn}: ${banned.count} banned ids do not fit their buffer`);
  const u = new Uint32Array([N, V, offLogits, offOut, offPrev, banned?.count ?? 0, m.pad < 0 ? NONE : m.pad, m.sotAllowed ? NONE : m.sot, m.eot, (c.prev ? 1 : 0) | (m.maskEot ? 2 : 0), 0xff800000, 0]);
  const k = gpu.kernel({ file: 'argmax', entry: 'argmax_rows', bindings: ['read', 'read', 'read', 'rw'] });
  gpu.dispatch(k, u, [c.logits.buffer, c.prev?.buffer ?? gpu.unused, banned?.buffer ?? gpu.unused, c.out.buffer], [N], `${fn}(${N}x${V})`);
}
