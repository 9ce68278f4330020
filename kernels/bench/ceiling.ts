// The adapter's ceilings (shaders/ceiling.wgsl), measured in the same run as the kernels whose
// figures are reported against them: FMA throughput for compute-bound kernels, copy bandwidth
// for memory-bound ones.
import type { Gpu } from '../../src/gpu/gpu.ts';
import { timeCalls } from './measure.ts';

export interface Ceilings {
  /** FMA-only kernel, GFLOP/s (an FMA counts as 2). */
  gflops: number;
  /** vec4 copy kernel, GB/s (bytes read + written). */
  gbps: number;
  /** copyBufferToBuffer, GB/s (bytes read + written), timed by wall clock over many copies. */
  copyBufferGbps: number;
}

const bindings = ['read', 'rw'] as const;

export async function measureFmaCeiling(gpu: Gpu): Promise<number> {
  const chains = 16;
  // Enough invocations to fill every core (or SM) many times over, few enough that one
  // dispatch stays short on a software adapter.
  const invocations = gpu.software ? 64 * 256 : 64 * 65535;
  const iters = gpu.software ? 2048 : 8192;
  const kernel = await gpu.compile({ file: 'ceiling', entry: 'fma_peak', defines: { CHAINS: chains }, bindings: [...bindings] });
  const out = gpu.alloc(invocations * 4, 'ceiling:out');
  const u = new Uint32Array(4);
  u[0] = iters;
  new Float32Array(u.buffer)[1] = 0.5;
  const t = await timeCalls(gpu, () => gpu.dispatch(kernel, u, [gpu.unused, out], [invocations / 64], 'fma_peak'), { tag: 'bench:ceiling:fma' });
  gpu.release(out);
  return (invocations * iters * chains * 4 * 2) / (t.ms * 1e6);
}

export async function measureCopyCeiling(gpu: Gpu): Promise<number> {
  // 64 MiB each way: far past any cache, within every binding limit we know.
  const vec4s = 4 << 20;
  const kernel = await gpu.compile({ file: 'ceiling', entry: 'copy_peak', bindings: [...bindings] });
  const src = gpu.alloc(vec4s * 4, 'ceiling:src');
  const dst = gpu.alloc(vec4s * 4, 'ceiling:dst');
  const u = new Uint32Array([vec4s, 0, 0, 0]);
  const groups = vec4s / 256;
  const x = Math.min(groups, 32768);
  const t = await timeCalls(gpu, () => gpu.dispatch(kernel, u, [src, dst], [x, Math.ceil(groups / x)], 'copy_peak'), { tag: 'bench:ceiling:copy' });
  gpu.release(src);
  gpu.release(dst);
  return (2 * 16 * vec4s) / (t.ms * 1e6);
}

export async function measureCopyBufferCeiling(gpu: Gpu): Promise<number> {
  const bytes = 64 << 20;
  const src = gpu.alloc(bytes / 4, 'ceiling:src');
  const dst = gpu.alloc(bytes / 4, 'ceiling:dst');
  gpu.copy(src, dst, bytes);
  await gpu.sync('bench:ceiling:copybuffer');
  const times: number[] = [];
  for (let r = 0; r < 3; r++) {
    const t0 = performance.now();
    for (let i = 0; i < 8; i++) gpu.copy(src, dst, bytes);
    await gpu.sync('bench:ceiling:copybuffer');
    times.push((performance.now() - t0) / 8);
  }
  gpu.release(src);
  gpu.release(dst);
  const ms = times.sort((a, b) => a - b)[1]!;
  return (2 * bytes) / (ms * 1e6);
}

export async function measureCeilings(gpu: Gpu): Promise<Ceilings> {
  return { gflops: await measureFmaCeiling(gpu), gbps: await measureCopyCeiling(gpu), copyBufferGbps: await measureCopyBufferCeiling(gpu) };
}
