// Float64 reference of the AdamW family, written as torch.optim.AdamW's single-tensor path
// (_single_tensor_adamw) and torch.nn.utils.clip_grad_norm_ compute, one operation per line.
import type { AdamWHyper, AdamWSegment } from './adamw.ts';

export interface AdamWRefState {
  param: Float64Array;
  m: Float64Array;
  v: Float64Array;
}

/**
 * One update, in place, of the elements in `segments` (flat arrays of equal length);
 * each gradient is multiplied by `gradScale` first (the clip scale).
 */
export function adamwRef(s: AdamWRefState, grad: ArrayLike<number>, segments: readonly AdamWSegment[], step: number, h: AdamWHyper, gradScale = 1): void {
  const beta1 = h.beta1 ?? 0.9;
  const beta2 = h.beta2 ?? 0.999;
  const eps = h.eps ?? 1e-8;
  const wd = h.weightDecay ?? 0.01;
  const bc1 = 1 - beta1 ** step;
  const bc2 = 1 - beta2 ** step;
  const stepSize = h.lr / bc1;
  const bc2Sqrt = Math.sqrt(bc2);
  for (const seg of segments) {
    for (let i = seg.offset; i < seg.offset + seg.length; i++) {
      const g = grad[i]! * gradScale;
      if (seg.decay) s.param[i]! *= 1 - h.lr * wd; // param.mul_(1 - lr * weight_decay)
      s.m[i]! += (g - s.m[i]!) * (1 - beta1); // exp_avg.lerp_(grad, 1 - beta1)
      s.v[i] = s.v[i]! * beta2 + (1 - beta2) * g * g; // exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
      const denom = Math.sqrt(s.v[i]!) / bc2Sqrt + eps; // (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
      s.param[i]! -= (stepSize * s.m[i]!) / denom; // param.addcdiv_(exp_avg, denom, value=-step_size)
    }
  }
}

/** Global 2-norm over every gradient, the clip scale min(1, maxNorm/(norm + 1e-6)), and NaN/Inf. */
export function gradNormRef(grads: readonly ArrayLike<number>[], maxNorm = Infinity): { norm: number; scale: number; nonfinite: boolean } {
  let ss = 0;
  let nonfinite = false;
  for (const g of grads) {
    for (let i = 0; i < g.length; i++) {
      ss += g[i]! * g[i]!;
      if (!Number.isFinite(g[i]!)) nonfinite = true;
    }
  }
  const norm = Math.sqrt(ss);
  return { norm, scale: Math.min(1, maxNorm / (norm + 1e-6)), nonfinite };
}
