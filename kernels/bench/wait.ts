// `coca bench wait`: the same matmul timed with the JS thread awaiting the GPU at once (dawn.node
// then polls on it) and with it sleeping for most of the expected time first (src/gpu/wait.ts).
// The two modes alternate run by run, so drift in the machine's load hits both alike; the ratio
// of medians is what not stealing a core is worth on this adapter.
import { matmulBenchSizes, matmulCase } from '../matmul.bench.ts';
import { matmulFlops, matmulVariantAvailable, type MatmulVariant } from '../matmul.ts';
import { caseProgress, fmt, type BenchFamily } from './harness.ts';
import { timeCalls } from './measure.ts';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export const waitBench: BenchFamily = {
  name: 'wait',
  describe: 'await vs sleep-then-await while the GPU works, on the fastest matmul (modes alternate)',
  async run(ctx) {
    const { gpu } = ctx;
    const v: MatmulVariant = matmulVariantAvailable(gpu, 'subgroup') ? 'subgroup' : 'regblock';
    const sizes = matmulBenchSizes(ctx);
    const size = sizes[sizes.length - 1]!;
    const c = matmulCase(gpu, v, 'NN', size, ctx.seed);
    const check = await c.validate();
    const keep = gpu.waiter.mode;
    const gflops: Record<'await' | 'sleep', number[]> = { await: [], sleep: [] };
    const rounds = Math.max(3, ctx.runs);
    for (let r = 0; r < rounds; r++) {
      for (const mode of ['await', 'sleep'] as const) {
        gpu.waiter.mode = mode;
        const p = caseProgress(`round ${r + 1}/${rounds} wait=${mode}: matmul ${v} ${size.join('x')}`);
        const t = await timeCalls(gpu, c.record, { tag: `bench:wait:${mode}`, runs: 1 });
        gflops[mode].push(matmulFlops(...size) / (t.ms * 1e6));
        p.done(`${fmt(gflops[mode].at(-1)!, 2)} GFLOP/s`);
      }
    }
    gpu.waiter.mode = keep;
    c.release();
    const [aw, sl] = [median(gflops.await), median(gflops.sleep)];
    console.log(`\nwaiting (${v} ${size.join('x')}, medians of ${rounds}): await ${fmt(aw, 2)} GFLOP/s, sleep-then-await ${fmt(sl, 2)} GFLOP/s → ×${fmt(sl / aw, 2)}`);
    return { failed: check.ok ? 0 : 1, report: { variant: v, size, await: aw, sleep: sl, ratio: sl / aw, runs: gflops } };
  },
};
