// Float64 reference of the moving average of the weights, as timm's ModelEmaV3 computes it
// (ema_v.lerp_(model_v, 1 - decay)), one operation per line.

/** One update, in place, of elements [offset, offset + length). */
export function emaRef(ema: Float64Array, src: ArrayLike<number>, offset: number, length: number, decay: number): void {
  for (let i = offset; i < offset + length; i++) ema[i] = ema[i]! + (1 - decay) * (src[i]! - ema[i]!);
}
