// IEEE 754 half precision (binary16) for weights on the wire: `coca export web` stores a model's
// weights as F16 (half the download) and the loaders widen them back to float32 when they read
// them, so everything after loading computes in float32 as before.

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The largest finite half: larger magnitudes round to infinity. */
export const HALF_MAX = 65504;

/** The nearest half (ties to even), as bits; NaN stays NaN, overflow goes to ±Infinity. */
export function floatToHalf(x: number): number {
  f32[0] = x;
  const b = u32[0]!;
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  const man = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (man ? 0x200 : 0);
  // Unbiased exponent; halves have -14..15 (normal), down to -24 (subnormal).
  const e = exp - 127;
  if (e > 15) return sign | 0x7c00;
  if (e >= -14) {
    // Normal: keep 10 bits of the mantissa, round the 13 dropped ones to nearest even.
    let h = ((e + 15) << 10) | (man >>> 13);
    const rest = man & 0x1fff;
    if (rest > 0x1000 || (rest === 0x1000 && (h & 1))) h++;
    return sign | h; // a carry into the exponent is the right rounding, up to infinity
  }
  if (e < -25) return sign;
  // Subnormal: the value is m · 2^-24 with m < 1024, the implicit 1 made explicit.
  const full = man | 0x800000;
  const drop = 13 + (-14 - e);
  let h = full >>> drop;
  const rest = full & ((1 << drop) - 1);
  const halfway = 1 << (drop - 1);
  if (rest > halfway || (rest === halfway && (h & 1))) h++;
  return sign | h;
}

/** The float a half's bits stand for. */
export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/** The tensor as halves, or null when an element is not finite or too large for a half (keep it float32). */
export function toHalves(data: Float32Array): Uint16Array | null {
  const out = new Uint16Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const x = data[i]!;
    if (!(Math.abs(x) <= HALF_MAX)) return null;
    out[i] = floatToHalf(x);
  }
  return out;
}

export function halvesToFloats(bits: Uint16Array): Float32Array {
  return Float32Array.from(bits, halfToFloat);
}
