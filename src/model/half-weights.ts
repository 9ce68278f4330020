// Float32 weights to half precision for a model shipped in the repository (scripts/ship-model.ts):
// every float32 tensor becomes F16 (nearest half, ties to even: half.ts), except the ones named to
// stay float32 (the logit scale: one number, so exact costs nothing). A weight beyond the largest
// finite half would become infinity and the model unusable, so the whole conversion is refused in
// one line naming the tensor instead; what the rounding cost is measured and returned.
import { CheckpointError } from './errors.ts';
import { floatToHalf, halfToFloat, HALF_MAX } from './half.ts';
import type { Safetensors, TensorIn } from './safetensors-format.ts';

export interface HalfReport {
  /** Tensors stored as F16, and those kept float32 (by name). */
  f16: number;
  f32: string[];
  /** Largest |weight| of the converted tensors. */
  maxAbs: number;
  /** Largest |half − float| and largest |half − float| / |float| over the normal range of halves. */
  maxAbsError: number;
  maxRelError: number;
  /** Non-zero weights that became zero (smaller than half the smallest subnormal half). */
  flushedToZero: number;
  /** Weights that became subnormal halves (fewer significant bits). */
  subnormal: number;
}

const SMALLEST_NORMAL = 2 ** -14;

/** The tensors of `st` in half precision (but `keep`), and what the rounding did; refuses weights a half cannot hold. */
export function toHalfWeights(st: Safetensors, where: string, keep: ReadonlySet<string> = new Set(['logit_scale'])): { tensors: Map<string, TensorIn>; report: HalfReport } {
  const tensors = new Map<string, TensorIn>();
  const report: HalfReport = { f16: 0, f32: [], maxAbs: 0, maxAbsError: 0, maxRelError: 0, flushedToZero: 0, subnormal: 0 };
  for (const [name, t] of st.tensors) {
    if (!(t.data instanceof Float32Array)) throw new CheckpointError(`${where}: tensor "${name}" is ${t.dtype}; only float32 weights are converted to half precision`);
    if (keep.has(name)) {
      tensors.set(name, { shape: t.shape, data: t.data });
      report.f32.push(name);
      continue;
    }
    const bits = new Uint16Array(t.data.length);
    for (let i = 0; i < t.data.length; i++) {
      const x = t.data[i]!;
      // Halves round up to infinity from 65520 on; anything past the largest finite one is refused.
      if (!(Math.abs(x) <= HALF_MAX)) {
        throw new CheckpointError(`${where}: tensor "${name}" element ${i} is ${x}, outside half precision's range (±${HALF_MAX}); it cannot be shipped in f16: ship a checkpoint whose weights fit, or keep this tensor float32`);
      }
      const h = floatToHalf(x);
      bits[i] = h;
      const back = halfToFloat(h);
      const ax = Math.abs(x);
      report.maxAbs = Math.max(report.maxAbs, ax);
      report.maxAbsError = Math.max(report.maxAbsError, Math.abs(back - x));
      if (ax >= SMALLEST_NORMAL) report.maxRelError = Math.max(report.maxRelError, Math.abs(back - x) / ax);
      else if (x !== 0 && back === 0) report.flushedToZero++;
      else if (x !== 0) report.subnormal++;
    }
    tensors.set(name, { dtype: 'F16', shape: t.shape, data: bits });
    report.f16++;
  }
  return { tensors, report };
}
