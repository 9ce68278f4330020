// The device for GPU tests. There is no silent skip: where no adapter can be had, every GPU test
// fails with the device layer's message (CI must have lavapipe; see scripts/setup.sh).
import { getGpu, type Gpu } from '../../src/gpu/gpu.ts';

export function testGpu(): Promise<Gpu> {
  return getGpu();
}

/** A pooled buffer of `floats` float32s filled with NaN, so unwritten outputs fail comparisons. */
export function poisoned(gpu: Gpu, floats: number, label: string): GPUBuffer {
  const b = gpu.alloc(floats, label);
  gpu.write(b, new Float32Array(Math.max(1, floats)).fill(NaN));
  return b;
}

/**
 * A buffer holding `data` from `offset` floats, every other float (before it, and `tail` after it)
 * NaN: kernels given an offset must read only their range.
 */
export function placed(gpu: Gpu, data: Float32Array, offset: number, label: string, tail = 3): GPUBuffer {
  const all = new Float32Array(offset + data.length + tail).fill(NaN);
  all.set(data, offset);
  return gpu.upload(all, label);
}
