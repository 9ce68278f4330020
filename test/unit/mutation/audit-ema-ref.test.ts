// kernels/ema.ref.ts, the float64 reference of the weights' moving average, without a GPU: only
// test/kernels/ema.test.ts (on an adapter) read it, so no mutation run could reach it. The values
// are timm's ModelEmaV3 rule, ema ← ema + (1 − decay)·(src − ema), worked out by hand with decays
// whose 1 − decay is exact in binary (0.75 → ¼, 0.5 → ½), so every expected value is exact.
import { describe, expect, it } from 'vitest';
import { emaRef } from '../../../kernels/ema.ref.ts';

describe('emaRef', () => {
  it('updates exactly [offset, offset + length) by a quarter of the way to the source (decay 0.75)', () => {
    const ema = Float64Array.from([100, 101, 4, 8, -4, 102, 103]);
    const src = [-1, -2, 8, 0, 4, -3, -5];
    emaRef(ema, src, 2, 3, 0.75);
    // 4 + ¼(8 − 4) = 5; 8 + ¼(0 − 8) = 6; −4 + ¼(4 + 4) = −2; the rest untouched.
    expect(Array.from(ema)).toEqual([100, 101, 5, 6, -2, 102, 103]);
  });

  it('moves half the way with decay 0.5 and repeats as a geometric approach', () => {
    const ema = Float64Array.from([0, 16]);
    const src = [64, 0];
    emaRef(ema, src, 0, 2, 0.5);
    expect(Array.from(ema)).toEqual([32, 8]);
    emaRef(ema, src, 0, 2, 0.5);
    expect(Array.from(ema)).toEqual([48, 4]);
  });

  it('a decay of 1 keeps the average, a decay of 0 copies the source; length 0 writes nothing', () => {
    const ema = Float64Array.from([3, 5, 7]);
    emaRef(ema, [9, 9, 9], 0, 3, 1);
    expect(Array.from(ema)).toEqual([3, 5, 7]);
    emaRef(ema, [9, 10, 11], 1, 2, 0);
    expect(Array.from(ema)).toEqual([3, 10, 11]);
    emaRef(ema, [0, 0, 0], 1, 0, 0);
    expect(Array.from(ema)).toEqual([3, 10, 11]);
  });

  it('one element at the last offset, the one before it left alone', () => {
    const ema = Float64Array.from([1, 2, 3, 4]);
    emaRef(ema, [0, 0, 0, 12], 3, 1, 0.75);
    expect(Array.from(ema)).toEqual([1, 2, 3, 6]);
  });
});
