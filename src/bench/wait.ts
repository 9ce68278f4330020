// `coca bench wait`: the same matmul timed twice, once with the JS thread awaiting the GPU at
// once (dawn.node then polls on it) and once sleeping for most of the expected time first
// (src/gpu/wait.ts). The ratio is what not stealing a core is worth on this adapter.
import { benchMatmulCase, matmulBenchSizes } from '../../kernels/matmul.bench.ts';
import { matmulVariantAvailable, type MatmulVariant } from '../../kernels/matmul.ts';
import { caseProgress, fmt, type BenchFamily } from './family.ts';

export const waitBench: BenchFamily = {
  name: 'wait',
  describe: 'await vs sleep-then-await while the GPU works, on the fastest matmul',
  async run(ctx) {
    const { gpu } = ctx;
    const v: MatmulVariant = matmulVariantAvailable(gpu, 'subgroup') ? 'subgroup' : 'regblock';
    const sizes = matmulBenchSizes(ctx);
    const size = sizes[sizes.length - 1]!;
    const keep = gpu.waiter.mode;
    const gflops: Record<string, number> = {};
    let failed = 0;
    for (const mode of ['await', 'sleep'] as const) {
      gpu.waiter.mode = mode;
      const p = caseProgress(`wait=${mode}: matmul ${v} ${size.join('x')}`);
      const r = (await benchMatmulCase(gpu, v, 'NN', size, ctx))!;
      if (!r.ok) failed++;
      gflops[mode] = r.gflops;
      p.done(`${fmt(r.gflops, 2)} GFLOP/s`);
    }
    gpu.waiter.mode = keep;
    console.log(`\nwaiting: sleep-then-await / await = ×${fmt(gflops.sleep! / gflops.await!, 2)} (${v} ${size.join('x')})`);
    return { failed, report: { variant: v, size, ...gflops } };
  },
};
