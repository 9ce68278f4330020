// Bench cases of the matmul family: each variant is validated against the float64 reference on
// the very inputs it is then timed on, and reported in GFLOP/s.
import type { Gpu } from '../src/gpu/gpu.ts';
import { timeCalls } from '../src/bench/measure.ts';
import { compareClose } from '../src/util/allclose.ts';
import { Rng } from '../src/util/prng.ts';
import { matmul, matmulFlops, matmulVariantAvailable, type MatmulVariant } from './matmul.ts';
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

export async function benchMatmulCase(
  gpu: Gpu,
  variant: MatmulVariant,
  layout: Layout,
  [M, N, K]: [number, number, number],
  opts: { runs: number; seed: number },
): Promise<MatmulBenchRow | null> {
  if (!matmulVariantAvailable(gpu, variant)) return null;
  const rng = new Rng(opts.seed);
  const a = rng.floats(M * K);
  const b = rng.floats(K * N);
  const A = gpu.upload(a, 'bench:A');
  const B = gpu.upload(b, 'bench:B');
  const C = gpu.alloc(M * N, 'bench:C');
  gpu.write(C, new Float32Array(M * N).fill(NaN));
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
  // Validate first: one call on the NaN-poisoned output, then up to 4096 elements (all of
  // them for small outputs, a random sample otherwise) against float64 dot products.
  record();
  const got = await gpu.read(C, M * N, 0, `bench:matmul:validate`);
  const sample = M * N <= 4096 ? Array.from({ length: M * N }, (_, i) => i) : Array.from({ length: 4096 }, () => rng.int(M * N));
  const want = new Float64Array(M * N);
  for (const i of sample) want[i] = refElement(a, b, M, N, K, layout, Math.floor(i / N), i % N);
  const check = compareClose(got, want, matmulTolerance(K), sample);
  const t = await timeCalls(gpu, record, { tag: `bench:matmul:${variant}:${layout}:${M}x${N}x${K}`, runs: opts.runs });
  for (const buf of [A, B, C]) gpu.release(buf);
  return {
    variant,
    layout,
    M,
    N,
    K,
    ms: t.ms,
    gflops: matmulFlops(M, N, K) / (t.ms * 1e6),
    clock: t.clock,
    iters: t.iters,
    maxAbsError: check.maxAbsError,
    checked: check.count,
    ok: check.ok,
  };
}
