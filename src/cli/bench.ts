// `coca bench`: kernel microbenchmarks. Each kernel is validated against its float64 reference,
// then timed; figures are reported beside ceilings measured in the same run (the adapter's FMA
// ceiling, the CPU's BLAS) because absolute times on shared machines drift.
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import type { Argv } from 'yargs';
import { runBlasSgemm, type BlasResult } from '../bench/blas.ts';
import { measureFmaCeiling, type Ceiling } from '../bench/ceiling.ts';
import { CocaError } from '../gpu/errors.ts';
import { Gpu } from '../gpu/gpu.ts';
import { benchMatmulCase, type Layout, type MatmulBenchRow } from '../../kernels/matmul.bench.ts';
import { MATMUL_VARIANTS, matmulVariantAvailable, type MatmulVariant } from '../../kernels/matmul.ts';

const FAMILIES = ['matmul', 'ceiling', 'wait', 'all'] as const;
type Family = (typeof FAMILIES)[number];

interface BenchArgs {
  family: Family;
  sizes?: string;
  variant: string;
  layout: string;
  runs: number;
  json?: string;
  blas: boolean;
  seed: number;
}

function parseSizes(s: string): [number, number, number][] {
  return s.split(',').map((tok) => {
    const parts = tok.trim().split('x').map(Number);
    const [M, N, K] = parts.length === 1 ? [parts[0]!, parts[0]!, parts[0]!] : parts;
    if (parts.length !== 1 && parts.length !== 3) throw new CocaError(`--sizes: "${tok}" is neither n nor MxNxK`);
    for (const d of [M, N, K]) if (!Number.isInteger(d) || d! <= 0) throw new CocaError(`--sizes: "${tok}" has a dimension that is not a positive integer`);
    return [M!, N!, K!];
  });
}

function parseList<T extends string>(what: string, s: string, all: readonly T[]): T[] {
  if (s === 'all') return [...all];
  const items = s.split(',').map((x) => x.trim());
  for (const x of items) if (!(all as readonly string[]).includes(x)) throw new CocaError(`--${what}: "${x}" is not one of ${all.join(', ')}, all`);
  return items as T[];
}

const fmt = (x: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '–');

function printMatmulTable(rows: MatmulBenchRow[], ceiling: Ceiling, blas: Map<string, BlasResult>): void {
  const head = ['variant', 'layout', 'M x N x K', 'ms', 'GFLOP/s', '% FMA ceiling', '× BLAS', 'check'];
  const lines = rows.map((r) => {
    const bl = blas.get(`${r.M}x${r.N}x${r.K}`);
    return [
      r.variant,
      r.layout,
      `${r.M}x${r.N}x${r.K}`,
      fmt(r.ms, 3),
      fmt(r.gflops, 2),
      fmt((100 * r.gflops) / ceiling.gflops, 1),
      bl ? fmt(r.gflops / bl.gflops, 3) : '–',
      r.ok ? `ok (${r.maxAbsError.toExponential(1)})` : `FAILED (${r.maxAbsError.toExponential(1)})`,
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const row = (cells: string[]) => cells.map((c, i) => (i < 3 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  console.log(row(head));
  for (const l of lines) console.log(row(l));
}

async function run(args: BenchArgs): Promise<void> {
  const gpu = await Gpu.open();
  const a = gpu.adapter;
  const machine = { adapter: `${a.backend} · ${a.vendor} ${a.architecture} · ${a.description || a.device}`, cpu: `${cpus().length} × ${cpus()[0]?.model ?? '?'}`, node: process.version };
  console.log(`adapter: ${machine.adapter}`);
  console.log(`cpu:     ${machine.cpu}; wait mode ${gpu.waiter.mode}; clock: ${gpu.has('timestamp-query') ? 'GPU timestamps' : 'wall'}`);
  const report: Record<string, unknown> = { machine, date: new Date().toISOString(), args };
  const family = args.family;
  const sizes = parseSizes(args.sizes ?? (gpu.software ? '256,512,1024' : '1024,2048,4096'));
  const variants = parseList<MatmulVariant>('variant', args.variant, MATMUL_VARIANTS).filter((v) => {
    if (matmulVariantAvailable(gpu, v)) return true;
    console.log(`variant ${v}: not available on this adapter (needs subgroups of a fixed size)`);
    return false;
  });
  const layouts = parseList<Layout>('layout', args.layout, ['NN', 'NT', 'TN']);

  const ceiling = await measureFmaCeiling(gpu);
  report.ceiling = ceiling;
  console.log(`FMA ceiling: ${fmt(ceiling.gflops, 2)} GFLOP/s (shaders/ceiling.wgsl)`);
  if (family === 'ceiling') return finish(gpu, args, report);

  let failed = 0;
  if (family === 'matmul' || family === 'all') {
    const rows: MatmulBenchRow[] = [];
    for (const size of sizes) {
      for (const layout of layouts) {
        for (const v of variants) {
          process.stdout.write(`  ${v} ${layout} ${size.join('x')} ...`);
          const r = await benchMatmulCase(gpu, v, layout, size, { runs: args.runs, seed: args.seed });
          if (!r) continue;
          rows.push(r);
          if (!r.ok) failed++;
          process.stdout.write(` ${fmt(r.gflops, 2)} GFLOP/s\n`);
        }
      }
    }
    let blas = new Map<string, BlasResult>();
    if (args.blas) {
      const b = runBlasSgemm(sizes);
      blas = b.results;
      if (b.note) console.log(b.note);
      report.blas = [...blas.values()];
    }
    console.log();
    printMatmulTable(rows, ceiling, blas);
    if (blas.size) console.log(`BLAS: ${[...blas.values()].map((b) => `${b.M}x${b.N}x${b.K} ${fmt(b.gflops, 1)} GFLOP/s`).join(', ')} (${[...blas.values()][0]!.blas}, numpy sgemm)`);
    report.matmul = rows;
  }

  if (family === 'wait' || family === 'all') {
    // Same kernel, same size; only how the JS thread waits for the GPU differs.
    const v: MatmulVariant = matmulVariantAvailable(gpu, 'subgroup') ? 'subgroup' : 'regblock';
    const size = sizes[sizes.length - 1]!;
    const out: Record<string, number> = {};
    for (const mode of ['await', 'sleep'] as const) {
      gpu.waiter.mode = mode;
      const r = await benchMatmulCase(gpu, v, 'NN', size, { runs: args.runs, seed: args.seed });
      out[mode] = r!.gflops;
    }
    console.log(`\nwaiting: ${v} ${size.join('x')}: await ${fmt(out.await!, 2)} GFLOP/s, sleep-then-await ${fmt(out.sleep!, 2)} GFLOP/s → ×${fmt(out.sleep! / out.await!, 2)}`);
    report.wait = { variant: v, size, ...out };
  }
  finish(gpu, args, report);
  if (failed) throw new CocaError(`${failed} bench case(s) failed validation against the float64 reference`);
}

function finish(gpu: Gpu, args: BenchArgs, report: Record<string, unknown>): void {
  if (args.json) {
    writeFileSync(args.json, JSON.stringify(report, null, 2));
    console.log(`wrote ${args.json}`);
  }
  gpu.destroy();
}

export const benchCommand = {
  command: 'bench [family]',
  describe: 'Kernel microbenchmarks: validate against float64, then time (GFLOP/s vs FMA ceiling and CPU BLAS)',
  builder: (y: Argv) =>
    y
      .positional('family', { choices: FAMILIES, default: 'all' as Family, describe: 'which kernels (wait: await vs sleep-then-await)' })
      .option('sizes', { type: 'string', describe: 'comma list of n (square) or MxNxK [default: 256,512,1024 on software adapters, 1024,2048,4096 on GPUs]' })
      .option('variant', { type: 'string', default: 'all', describe: `variants: ${MATMUL_VARIANTS.join(', ')}, all` })
      .option('layout', { type: 'string', default: 'NN', describe: 'NN, NT, TN (transposed B / A), comma list, or all' })
      .option('runs', { type: 'number', default: 3, describe: 'timed runs per case (median reported)' })
      .option('json', { type: 'string', describe: 'also write every figure to this JSON file' })
      .option('blas', { type: 'boolean', default: true, describe: 'measure CPU BLAS sgemm on the same sizes (--no-blas to skip)' })
      .option('seed', { type: 'number', default: 1, describe: 'seed of the random inputs' })
      .example('$0 bench matmul --sizes 1024 --variant subgroup', 'one variant at n=1024')
      .example('$0 bench matmul --sizes 128x3072x768 --layout all', 'a rectangular shape, all layouts'),
  handler: (args: BenchArgs) => run(args),
};
