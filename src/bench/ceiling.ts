// The adapter's FMA ceiling (shaders/ceiling.wgsl), measured in the same run as the kernels
// whose GFLOP/s are reported against it.
import type { Gpu } from '../gpu/gpu.ts';
import { timeCalls } from './measure.ts';

export interface Ceiling {
  gflops: number;
  ms: number;
}

export async function measureFmaCeiling(gpu: Gpu): Promise<Ceiling> {
  const chains = 16;
  // Enough invocations to fill every core (or SM) many times over, few enough that one
  // dispatch stays short on a software adapter.
  const invocations = gpu.software ? 64 * 256 : 64 * 65535;
  const iters = gpu.software ? 2048 : 8192;
  const kernel = await gpu.compile({ file: 'ceiling', entry: 'fma_peak', defines: { CHAINS: chains }, bindings: ['rw'] });
  const out = gpu.alloc(invocations, 'ceiling:out');
  const u = new Uint32Array(4);
  u[0] = iters;
  new Float32Array(u.buffer)[1] = 0.5;
  const t = await timeCalls(gpu, () => gpu.dispatch(kernel, u, [out], [invocations / 64], 'fma_peak'), { tag: 'bench:ceiling', minRunMs: 300 });
  gpu.release(out);
  const flops = invocations * iters * chains * 4 * 2;
  return { gflops: flops / (t.ms * 1e6), ms: t.ms };
}
