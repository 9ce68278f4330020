// Float64 reference of the strided block copy (shaders/copy.wgsl).
import type { BlockLayout } from './copy.ts';

/** Returns dst after dst[b, r, c] (=|+=) src[b, r, c] (+ add[b, r, c]) over B x R x C, in the given layouts. */
export function copyRowsRef(src: ArrayLike<number>, dst: ArrayLike<number>, B: number, R: number, C: number, s: BlockLayout, d: BlockLayout, accumulate: boolean, add?: { data: ArrayLike<number>; layout: BlockLayout }): Float64Array {
  const out = Float64Array.from(dst);
  for (let b = 0; b < B; b++) {
    for (let r = 0; r < R; r++) {
      for (let c = 0; c < C; c++) {
        const di = d.offset + b * d.batchStride + r * d.rowStride + c;
        const x = src[s.offset + b * s.batchStride + r * s.rowStride + c]!;
        const v = add ? x + add.data[add.layout.offset + b * add.layout.batchStride + r * add.layout.rowStride + c]! : x;
        out[di] = accumulate ? out[di]! + v : v;
      }
    }
  }
  return out;
}
