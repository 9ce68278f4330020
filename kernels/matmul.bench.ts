// Bench cases of the matmul family: each variant and layout is validated against the float64
// reference on the very inputs it is then timed on, and reported in GFLOP/s beside the FMA
// ceiling and the CPU's BLAS sgemm on the same sizes.
import type { Gpu } from '../src/gpu/gpu.ts';
import { compareClose } from '../src/util/allclose.ts';
import { Rng } from '../src/util/prng.ts';
import { runBlasSgemm, type BlasResult } from './bench/blas.ts';
import { fmt, parseList, parseSizes, printRows, runCases, sampleIndices, type BenchCase, type BenchContext, type BenchFamily } from './bench/harness.ts';
import { MATMUL_F16_VARIANTS, MATMUL_VARIANTS, matmul, matmulFlops, matmulVariantAvailable, type MatmulVariant } from './matmul.ts';
import { matmulRefElement, matmulTolerance } from './matmul.ref.ts';
import { f16RoundAll } from './f16.ref.ts';

export type Layout = 'NN' | 'NT' | 'TN';

/** C = op(A)·op(B) on random inputs; the wait bench times the same case. */
export function matmulCase(gpu: Gpu, variant: MatmulVariant, layout: Layout, [M, N, K]: [number, number, number], seed: number): BenchCase {
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
    variant: `${variant} ${layout}`,
    shape: `${M}x${N}x${K}`,
    work: { flops: matmulFlops(M, N, K) },
    record,
    async validate() {
      gpu.write(C, new Float32Array(M * N).fill(NaN));
      record();
      const got = await gpu.read(C, M * N, 0, 'bench:matmul:validate');
      const sample = sampleIndices(rng, M * N);
      const want = new Float64Array(M * N);
      // f16 variants are checked against the exact product of their f16-rounded inputs.
      const f16 = (MATMUL_F16_VARIANTS as readonly string[]).includes(variant);
      const [ra, rb] = f16 ? [f16RoundAll(a), f16RoundAll(b)] : [a, b];
      for (const i of sample) want[i] = matmulRefElement(ra, rb, { M, N, K, transA, transB }, Math.floor(i / N), i % N);
      const r = compareClose(got, want, matmulTolerance(K), sample);
      return { ok: r.ok, maxAbsError: r.maxAbsError, checked: r.count };
    },
    release() {
      for (const buf of [A, B, C]) gpu.release(buf);
    },
  };
}

/** --sizes: n (square) or MxNxK. */
export function matmulBenchSizes(ctx: BenchContext): [number, number, number][] {
  return parseSizes(ctx.sizes ?? (ctx.gpu.software ? '256,512,1024' : '1024,2048,4096'), ['n', 'MxNxK'], '', (d) => (d.length === 1 ? [d[0]!, d[0]!, d[0]!] : d)) as [number, number, number][];
}

export function* matmulCases(ctx: BenchContext): Generator<BenchCase> {
  const { gpu } = ctx;
  const variants = parseList<MatmulVariant>('variant', ctx.variant, [...MATMUL_VARIANTS, ...MATMUL_F16_VARIANTS]).filter((v) => {
    if (matmulVariantAvailable(gpu, v)) return true;
    console.log(`  variant ${v}: not available on this adapter (${v === 'sgmatrix' ? 'no subgroup matrices with f16 inputs and f32 results' : 'needs subgroups of a fixed size'})`);
    return false;
  });
  const layouts = parseList<Layout>('layout', ctx.layout, ['NN', 'NT', 'TN']);
  for (const size of matmulBenchSizes(ctx)) for (const layout of layouts) for (const v of variants) yield matmulCase(gpu, v, layout, size, ctx.seed);
}

export const matmulBench: BenchFamily = {
  name: 'matmul',
  describe: 'C = op(A)·op(B), every variant; GFLOP/s vs the FMA ceiling and CPU BLAS sgemm',
  async run(ctx) {
    const rows = await runCases(ctx, 'matmul', matmulCases(ctx));
    // BLAS after the GPU cases, never beside them: both want every core.
    const blas = ctx.blas ? runBlasSgemm(matmulBenchSizes(ctx)) : { results: new Map<string, BlasResult>(), note: 'BLAS column skipped (--no-blas)' };
    if (blas.note) console.log(blas.note);
    const out = printRows(ctx, rows, { variant: 'variant', shape: 'M x N x K' }, [
      { head: '× BLAS', cell: (r) => { const bl = blas.results.get(r.shape); return bl ? fmt(r.rate / bl.gflops, 3) : '–'; } },
    ]);
    const bl = [...blas.results.values()];
    if (bl.length) console.log(`CPU BLAS (${bl[0]!.blas} via numpy, same run): ${bl.map((b) => `${b.M}x${b.N}x${b.K} ${fmt(b.gflops, 1)} GFLOP/s`).join(', ')}`);
    return { ...out, report: { rows, blas: bl } };
  },
};
