// A checkpoint's parameters out of its parsed model.safetensors, as both loaders take them (a
// folder on disk: checkpoint.ts; fetched files: checkpoint-web.ts): float32, or half precision
// (the weights `coca export web` ships) widened to float32; refused in one line when a weight is
// NaN or Inf.
import type { HostTensor } from '../nn/params.ts';
import { CheckpointError } from './errors.ts';
import { halvesToFloats } from './half.ts';
import type { Safetensors } from './safetensors-format.ts';

/** The first element that is NaN or ±Inf, or -1. */
function firstNonFinite(data: Float32Array): number {
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i]!)) return i;
  return -1;
}

/** `where` names the file in messages. */
export function checkpointParams(st: Safetensors, where: string): Map<string, HostTensor> {
  const out = new Map<string, HostTensor>();
  for (const [name, t] of st.tensors) {
    const data = t.dtype === 'F16' ? halvesToFloats(t.data as Uint16Array) : t.data;
    if (!(data instanceof Float32Array)) throw new CheckpointError(`${where}: tensor "${name}" is ${t.dtype}, expected F32 (or F16)`);
    const bad = firstNonFinite(data);
    if (bad >= 0) throw new CheckpointError(`${where}: tensor "${name}" holds ${data[bad]} (element ${bad}); the weights are broken: use another checkpoint`);
    out.set(name, { shape: t.shape, data });
  }
  return out;
}
