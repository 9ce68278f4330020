// f16_round.wgsl — an f32 rounded to the nearest f16 value (ties to even), as an f32, in f32
// arithmetic alone (no `enable f16`, so any kernel may include it): ±Inf past f16's largest
// finite 65504 (from 65520 up), subnormals on the 2^-24 grid, Inf and NaN kept. Included with
// //#include f16_round by the attention kernels, which round their inputs with it under
// `--precision f16` (f16 inputs, f32 accumulation, as the f16 products do: shaders/matmul_f16.wgsl).

fn round_f16(x: f32) -> f32 {
  let bits = bitcast<u32>(x);
  let e = i32((bits >> 23u) & 0xffu);
  // Inf and NaN as they are: tested on the bits, since compilers may assume x == x.
  if (e == 255) { return x; }
  // The spacing of f16 values at |x|: 2^(exponent − 10) for normal halves, 2^-24 below 2^-14.
  let q = exp2(f32(max(e - 127, -14) - 10));
  // x / q and r · q are exact (q is a power of two); round() is ties-to-even in WGSL.
  let r = round(x / q) * q;
  if (abs(r) > 65504.0) { return bitcast<f32>(0x7f800000u | (bits & 0x80000000u)); }
  return r;
}

fn round_f16x4(v: vec4f) -> vec4f {
  return vec4f(round_f16(v.x), round_f16(v.y), round_f16(v.z), round_f16(v.w));
}
