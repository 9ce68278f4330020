// Bench cases of the matmul family: each variant is validated against the float64 reference on
// the very inputs it is then timed on, and reported in GFLOP/s.
import type { Gpu } from '../src/gpu/gpu.ts';
import { timeCalls } from '../src/bench/measure.ts';
import { compareClose } from '../src/util/allclose.ts';
import { Rng } from '../src/util/prng.ts';
import { runBlasSgemm, type BlasResult } from '../src/bench/blas.ts';
import { BenchInputError, caseProgress, fmt, parseList, printTable, type BenchContext, type BenchFamily } from '../src/bench/family.ts';
import { MATMUL_VARIANTS, matmul, matmulFlops, matmulVariantAvailable, type MatmulVariant } from './matmul.ts';
import { matmulTolerance } from './matmul.ref.ts';

export type Layout = 'NN' | 'NT' | 'TN';

export interface MatmulBenchRow {
  variant: MatmulVariant;
  layout: Layout;
  M: number;
  N: number;
  K: number;
  ms: number;
  gflops: number;
  clock: 'device' | 'wall';
  iters: number;
  /** Largest |got − want| over the checked elements. */
  maxAbsError: number;
  checked: number;
  ok: boolean;
}

/** Float64 dot product for output (m, n) of op(A)·op(B). */
function refElement(a: Float32Array, b: Float32Array, M: number, N: number, K: number, layout: Layout, m: number, n: number): number {
  let s = 0;
  for (let k = 0; k < K; k++) {
    const av = layout === 'TN' ? a[k * M + m]! : a[m * K + k]!;
    const bv = layout === 'NT' ? b[n * K + k]! : b[k * N + n]!;
    s += av * bv;
  }
  return s;
}

export interface PreparedMatmul {
  /** Records one call. */
  record(): void;
  /** Runs one call on a NaN-poisoned output and checks it against float64 dot products. */
  validate(): Promise<{ ok: boolean; maxAbsError: number; checked: number }>;
  release(): void;
}

/** Inputs and output of one bench case, on the GPU. */
export function prepareMatmulCase(gpu: Gpu, variant: MatmulVariant, layout: Layout, [M, N, K]: [number, number, number], seed: number): PreparedMatmul {
  const rng = new Rng(seed);
  const a = rng.floats(M * K);
  const b = rng.floats(K * N);
  const A = gpu.upload(a, 'bench:A');
  const B = gpu.upload(b, 'bench:B');
  const C = gpu.alloc(M * N, 'bench:C');
  const transA = layout === 'TN';
  const transB = layout === 'NT';
  const record = () =>
    matmul(gpu, {
      a: { buffer: A, shape: transA ? [K, M] : [M, K] },
      b: { buffer: B, shape: transB ? [N, K] : [K, N] },
      c: { buffer: C, shape: [M, N] },
      transA,
      transB,
      variant,
    });
  return {
    record,
    async validate() {
      gpu.write(C, new Float32Array(M * N).fill(NaN));
      record();
      const got = await gpu.read(C, M * N, 0, 'bench:matmul:validate');
      // All elements of small outputs, a random sample of 4096 otherwise.
      const sample = M * N <= 4096 ? Array.from({ length: M * N }, (_, i) => i) : Array.from({ length: 4096 }, () => rng.int(M * N));
      const want = new Float64Array(M * N);
      for (const i of sample) want[i] = refElement(a, b, M, N, K, layout, Math.floor(i / N), i % N);
      const r = compareClose(got, want, matmulTolerance(K), sample);
      return { ok: r.ok, maxAbsError: r.maxAbsError, checked: r.count };
    },
    release() {
      for (const buf of [A, B, C]) gpu.release(buf);
    },
  };
}

export async function benchMatmulCase(
  gpu: Gpu,
  variant: MatmulVariant,
  layout: Layout,
  size: [number, number, number],
  opts: { runs: number; seed: number },
): Promise<MatmulBenchRow | null> {
  if (!matmulVariantAvailable(gpu, variant)) return null;
  const [M, N, K] = size;
  const c = prepareMatmulCase(gpu, variant, layout, size, opts.seed);
  // Validate first, on the very inputs that are then timed.
  const check = await c.validate();
  const t = await timeCalls(gpu, c.record, { tag: `bench:matmul:${variant}:${layout}:${M}x${N}x${K}`, runs: opts.runs });
  c.release();
  return { variant, layout, M, N, K, ms: t.ms, gflops: matmulFlops(M, N, K) / (t.ms * 1e6), clock: t.clock, iters: t.iters, ...check };
}

// ---- the family as `coca bench matmul` runs it --------------------------------------------------

function parseSizes(s: string): [number, number, number][] {
  return s.split(',').map((tok) => {
    const parts = tok.trim().split('x').map(Number);
    if (parts.length !== 1 && parts.length !== 3) throw new BenchInputError(`--sizes: "${tok}" is neither n nor MxNxK`);
    const [M, N, K] = parts.length === 1 ? [parts[0]!, parts[0]!, parts[0]!] : parts;
    for (const d of [M, N, K]) if (!Number.isInteger(d) || d! <= 0) throw new BenchInputError(`--sizes: "${tok}" has a dimension that is not a positive integer`);
    return [M!, N!, K!];
  });
}

export function matmulBenchSizes(ctx: BenchContext): [number, number, number][] {
  return parseSizes(ctx.sizes ?? (ctx.gpu.software ? '256,512,1024' : '1024,2048,4096'));
}

export const matmulBench: BenchFamily = {
  name: 'matmul',
  describe: 'C = op(A)·op(B), every variant; GFLOP/s vs the FMA ceiling and CPU BLAS sgemm',
  async run(ctx) {
    const { gpu } = ctx;
    const sizes = matmulBenchSizes(ctx);
    const variants = parseList<MatmulVariant>('variant', ctx.variant, MATMUL_VARIANTS).filter((v) => {
      if (matmulVariantAvailable(gpu, v)) return true;
      console.log(`  variant ${v}: not available on this adapter (needs subgroups of a fixed size)`);
      return false;
    });
    const layouts = parseList<Layout>('layout', ctx.layout, ['NN', 'NT', 'TN']);
    const rows: MatmulBenchRow[] = [];
    for (const size of sizes) {
      for (const layout of layouts) {
        for (const v of variants) {
          const p = caseProgress(`matmul ${v} ${layout} ${size.join('x')}`);
          const r = (await benchMatmulCase(gpu, v, layout, size, ctx))!;
          rows.push(r);
          p.done(`${fmt(r.gflops, 2)} GFLOP/s${r.ok ? '' : ' FAILED validation'}`);
        }
      }
    }
    // BLAS after the GPU cases, never beside them: both want every core.
    const blas = ctx.blas ? runBlasSgemm(sizes) : { results: new Map<string, BlasResult>(), note: 'BLAS column skipped (--no-blas)' };
    if (blas.note) console.log(blas.note);
    console.log();
    printTable(
      ['variant', 'layout', 'M x N x K', 'ms', 'GFLOP/s', '% FMA ceiling', '× BLAS', 'check (max abs err)'],
      rows.map((r) => {
        const bl = blas.results.get(`${r.M}x${r.N}x${r.K}`);
        return [
          r.variant,
          r.layout,
          `${r.M}x${r.N}x${r.K}`,
          fmt(r.ms, 3),
          fmt(r.gflops, 2),
          fmt((100 * r.gflops) / ctx.ceilings.gflops, 1),
          bl ? fmt(r.gflops / bl.gflops, 3) : '–',
          `${r.ok ? 'ok' : 'FAILED'} (${r.maxAbsError.toExponential(1)})`,
        ];
      }),
      3,
    );
    const bl = [...blas.results.values()];
    if (bl.length) console.log(`CPU BLAS (${bl[0]!.blas} via numpy, same run): ${bl.map((b) => `${b.M}x${b.N}x${b.K} ${fmt(b.gflops, 1)} GFLOP/s`).join(', ')}`);
    return { failed: rows.filter((r) => !r.ok).length, report: { rows, blas: bl } };
  },
};
