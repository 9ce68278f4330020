// `coca bench [family]`: kernel microbenchmarks. Every case is validated against its float64
// reference, then timed; figures are reported beside ceilings measured at the start of the same
// run (the adapter's FMA and copy ceilings, the CPU's BLAS) because absolute times on shared
// machines drift.
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import type { Argv } from 'yargs';
import { measureCeilings } from '../../kernels/bench/ceiling.ts';
import { BENCH_FAMILIES } from '../bench/families.ts';
import { fmt, type BenchContext } from '../../kernels/bench/harness.ts';
import { CocaError } from '../util/errors.ts';
import { Gpu } from '../gpu/gpu.ts';
import { checkOutputFile } from '../util/outdir.ts';
import { checkInt } from './numbers.ts';

interface BenchArgs {
  family: string;
  sizes?: string;
  variant: string;
  layout: string;
  runs: number;
  json?: string;
  blas: boolean;
  seed: number;
  checkpoint?: string;
}

async function run(args: BenchArgs): Promise<void> {
  const families = args.family === 'all' ? BENCH_FAMILIES : BENCH_FAMILIES.filter((f) => f.name === args.family);
  const gpu = await Gpu.open();
  try {
    const a = gpu.adapter;
    const machine = {
      adapter: `${a.backend} · ${a.vendor} ${a.architecture} · ${a.description || a.device}`,
      cpu: `${cpus().length} × ${cpus()[0]?.model ?? '?'}`,
      node: process.version,
      waitMode: gpu.waiter.mode,
      clock: gpu.has('timestamp-query') ? 'GPU timestamps' : 'wall clock',
    };
    console.log(`adapter: ${machine.adapter}`);
    console.log(`cpu:     ${machine.cpu}; waiting: ${machine.waitMode}; clock: ${machine.clock}`);
    const ceilings = await measureCeilings(gpu);
    console.log(`ceilings (same run): FMA ${fmt(ceilings.gflops, 2)} GFLOP/s, copy kernel ${fmt(ceilings.gbps, 2)} GB/s, copyBufferToBuffer ${fmt(ceilings.copyBufferGbps, 2)} GB/s\n`);
    const ctx: BenchContext = { gpu, ceilings, runs: args.runs, seed: args.seed, sizes: args.sizes, variant: args.variant, layout: args.layout, blas: args.blas, checkpoint: args.checkpoint };
    const report: Record<string, unknown> = { machine, date: new Date().toISOString(), args, ceilings };
    let failed = 0;
    for (const f of families) {
      console.log(`== ${f.name}: ${f.describe}`);
      const out = await f.run(ctx);
      failed += out.failed;
      report[f.name] = out.report;
      console.log();
    }
    if (args.json) {
      writeFileSync(args.json, JSON.stringify(report, null, 2));
      console.log(`wrote ${args.json}`);
    }
    if (failed) throw new CocaError(`${failed} bench case(s) failed validation against the float64 reference`);
  } finally {
    gpu.destroy();
  }
}

export const benchCommand = {
  command: 'bench [family]',
  describe: 'Kernel microbenchmarks: validate against float64, then time against ceilings measured in the same run',
  builder: (y: Argv) =>
    y
      .positional('family', {
        choices: [...BENCH_FAMILIES.map((f) => f.name), 'all'],
        default: 'all',
        describe: `which kernels: ${BENCH_FAMILIES.map((f) => `${f.name} (${f.describe})`).join('; ')}`,
      })
      .option('sizes', { type: 'string', describe: 'sizes, family-specific; matmul: comma list of n (square) or MxNxK [default 256,512,1024 on software adapters, 1024,2048,4096 on GPUs]; conv2d: BxCxHxWxOxKxSxP (batch, in channels, height, width, out channels, square kernel, stride, padding) [default 8x64x28x28x64x3x1x1,8x64x28x28x128x3x2x1,8x3x64x64x32x7x2x3 on software adapters]; pool, batchnorm: BxCxHxW [default 8x64x56x56 on software adapters]; lstm: BxIxH (batch, input size, hidden size) [default 1x256x256,32x256x256 on software adapters]; web: pictures:steps:batch (pictures captioned, nano training steps of which the first is not timed, batch) [default 6:4:32]' })
      .option('variant', { type: 'string', default: 'all', describe: 'comma list of variants, or all' })
      .option('layout', { type: 'string', default: 'NN', describe: 'matmul: NN, NT, TN (B or A transposed), comma list, or all' })
      .option('runs', { type: 'number', default: 3, describe: 'timed runs per case (the median is reported)' })
      .option('json', { type: 'string', describe: 'also write every figure to this JSON file' })
      .option('blas', { type: 'boolean', default: true, describe: 'measure CPU BLAS sgemm on the same sizes (--no-blas skips it)' })
      .option('seed', { type: 'number', default: 1, describe: 'seed of the random inputs' })
      .option('checkpoint', { type: 'string', describe: 'web: the checkpoint folder (or run) whose captions are timed, so that they have words [default: the nano the case trains for its few steps, whose captions are a token or two]' })
      .example('$0 bench matmul', 'every matmul variant at the default sizes')
      .example('$0 bench matmul --sizes 1024 --variant subgroup', 'one variant at n=1024')
      .example('$0 bench matmul --sizes 128x3072x768 --layout all', 'a rectangular shape in every layout'),
  handler: (args: BenchArgs) => {
    checkInt('runs', args.runs, 1);
    checkInt('seed', args.seed, 0);
    if (args.json) checkOutputFile(args.json, { option: '--json' });
    return run(args);
  },
};
