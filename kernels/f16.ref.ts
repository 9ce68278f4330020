// IEEE binary16 rounding for references of kernels that take f16 inputs: the float64 reference
// of the rounded inputs is then the exact answer up to the kernel's f32 accumulation.

const F16_MAX = 65504;
const MIN_NORMAL_EXP = -14;

/** x rounded to the nearest binary16 value (ties to even), as a number; ±Infinity past 65504. */
export function f16Round(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const a = Math.abs(x);
  // Spacing of binary16 values around a: 2^(e-10) for normal a, 2^-24 below 2^-14.
  const e = Math.max(Math.floor(Math.log2(a)), MIN_NORMAL_EXP);
  const ulp = 2 ** (e - 10);
  const q = a / ulp;
  let r = Math.round(q);
  if (r - q === 0.5 && r % 2 === 1) r -= 1; // Math.round rounds halves up; binary16 rounds them to even
  const v = r * ulp;
  if (v > F16_MAX) return Math.sign(x) * Infinity;
  return Math.sign(x) * v;
}

/** A copy of `xs` with every element rounded to binary16. */
export function f16RoundAll(xs: ArrayLike<number>): Float64Array {
  return Float64Array.from(xs, f16Round);
}

/** The binary16 bit pattern of f16Round(x) (NaN as the quiet 0x7e00), for f16 buffers built on the host. */
export function f16Bits(x: number): number {
  if (Number.isNaN(x)) return 0x7e00;
  const v = f16Round(x);
  const sign = v < 0 || Object.is(v, -0) ? 0x8000 : 0;
  const a = Math.abs(v);
  if (a === Infinity) return sign | 0x7c00;
  if (a < 2 ** MIN_NORMAL_EXP) return sign | (a / 2 ** -24); // subnormal (or zero): a multiple of 2^-24
  const e = Math.floor(Math.log2(a));
  return sign | ((e + 15) << 10) | (a / 2 ** e * 1024 - 1024);
}

/** The value of a binary16 bit pattern. */
export function f16FromBits(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0x1f) return m ? NaN : sign * Infinity;
  if (e === 0) return sign * m * 2 ** -24;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}
