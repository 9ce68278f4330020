// binary16 rounding of the f16 kernels' references, against values worked out by hand from the
// format (11 significant bits, exponents from -14, subnormals down to 2^-24, max 65504).
import { describe, expect, it } from 'vitest';
import { f16Bits, f16FromBits, f16Round } from '../../kernels/f16.ref.ts';

describe('f16Round', () => {
  it('keeps representable values and rounds others to the nearest, halves to even', () => {
    for (const v of [0, 1, -2, 0.5, 1024, 2048, 65504, 2 ** -14, 2 ** -24, 1 + 2 ** -10]) expect(f16Round(v)).toBe(v);
    expect(f16Round(1 / 3)).toBe(0.333251953125); // 0x3555
    expect(f16Round(0.1)).toBe(0.0999755859375); // 0x2e66
    expect(f16Round(2049)).toBe(2048); // halfway between 2048 and 2050: the even one
    expect(f16Round(2051)).toBe(2052); // halfway between 2050 and 2052: the even one
    expect(f16Round(1 + 2 ** -11)).toBe(1); // halfway: even mantissa
    expect(f16Round(1 + 3 * 2 ** -11)).toBe(1 + 2 ** -9);
    expect(f16Round(-1 / 3)).toBe(-0.333251953125);
  });

  it('subnormals round on the 2^-24 grid; past 65504 (and its half-step) is infinity', () => {
    expect(f16Round(3 * 2 ** -25)).toBe(2 ** -23); // 1.5 steps: even is 2
    expect(f16Round(2 ** -26)).toBe(0);
    expect(f16Round(65519)).toBe(65504);
    expect(f16Round(65520)).toBe(Infinity);
    expect(f16Round(-1e6)).toBe(-Infinity);
  });
});

describe('f16Bits and f16FromBits', () => {
  it('give the binary16 patterns worked out by hand, and back', () => {
    const cases: [number, number][] = [[1, 0x3c00], [-2, 0xc000], [1 / 3, 0x3555], [0.1, 0x2e66], [65504, 0x7bff], [2 ** -24, 0x0001], [2 ** -14, 0x0400], [0, 0], [Infinity, 0x7c00], [-1e6, 0xfc00]];
    for (const [v, bits] of cases) {
      expect(f16Bits(v), `f16Bits(${v})`).toBe(bits);
      expect(f16FromBits(bits), `f16FromBits(0x${bits.toString(16)})`).toBe(f16Round(v));
    }
    expect(f16Bits(NaN)).toBe(0x7e00);
    expect(f16FromBits(0x7e00)).toBeNaN();
    expect(f16Bits(-0)).toBe(0x8000);
    expect(f16FromBits(0x83ff)).toBe(-1023 * 2 ** -24);
  });
});
