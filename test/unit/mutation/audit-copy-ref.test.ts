// kernels/copy.ref.ts's `add` operand (concatSeq's position table added inside the copy, d773ebc):
// no GPU-free test gave it one. The block is read from a third layout with its own offset and
// strides, every element around the block a sentinel of 1000, so a wrong index shows as a value
// off by about 1000 (or NaN past the end). Expected values are the header's rule by hand:
// dst[b, r, c] (=|+=) src[b, r, c] + add[b, r, c].
import { describe, expect, it } from 'vitest';
import { copyRowsRef } from '../../../kernels/copy.ref.ts';

describe('copyRowsRef with an added block', () => {
  // src[b, r, c] = 1 + 4b + 2r + c (contiguous 2 x 2 x 2): 1..8.
  const src = [1, 2, 3, 4, 5, 6, 7, 8];
  const contiguous = { offset: 0, batchStride: 4, rowStride: 2 };
  // add at offset 2, batch stride 7, row stride 3: rows at 2, 5 (b = 0) and 9, 12 (b = 1).
  const addLayout = { offset: 2, batchStride: 7, rowStride: 3 };
  const addData = new Array<number>(14).fill(1000);
  [[2, 10], [3, 20], [5, 30], [6, 40], [9, 50], [10, 60], [12, 70], [13, 80]].forEach(([i, v]) => (addData[i!] = v!));

  it('writes src + add, each read in its own layout', () => {
    const out = copyRowsRef(src, new Array(8).fill(0.5), 2, 2, 2, contiguous, contiguous, false, { data: addData, layout: addLayout });
    expect([...out]).toEqual([11, 22, 33, 44, 55, 66, 77, 88]);
  });

  it('adds src + add onto dst when accumulating', () => {
    const out = copyRowsRef(src, new Array(8).fill(0.5), 2, 2, 2, contiguous, contiguous, true, { data: addData, layout: addLayout });
    expect([...out]).toEqual([11.5, 22.5, 33.5, 44.5, 55.5, 66.5, 77.5, 88.5]);
  });

  it('one batch of one row: only the offset of the added block counts', () => {
    const out = copyRowsRef([4, 5, 6], [0, 0, 0], 1, 1, 3, { offset: 0, batchStride: 3, rowStride: 3 }, { offset: 0, batchStride: 3, rowStride: 3 }, false, {
      data: [1000, 1000, 0.25, 0.5, 0.75, 1000],
      layout: { offset: 2, batchStride: 3, rowStride: 3 },
    });
    expect([...out]).toEqual([4.25, 5.5, 6.75]);
  });
});
