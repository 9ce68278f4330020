import { vi } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import type { Tensor } from '../../src/tensor/tensor.ts';

/** Runs `fn` and returns its output's values and how many dispatches it recorded (the output released). */
export async function counted(gpu: Gpu, fn: () => Tensor): Promise<{ values: Float32Array; dispatches: number }> {
  const before = gpu.counters.dispatches;
  const y = fn();
  const dispatches = gpu.counters.dispatches - before;
  const values = await y.toArray();
  y.release();
  return { values, dispatches };
}

/** Runs `fn` and returns the keys of the kernels it dispatched, in order (the dispatches go through). */
export function kernelKeys(gpu: Gpu, fn: () => void): string[] {
  const spy = vi.spyOn(gpu, 'dispatch');
  try {
    fn();
    return spy.mock.calls.map((a) => a[0].key);
  } finally {
    spy.mockRestore();
  }
}
