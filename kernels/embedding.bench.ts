// Bench cases of the embedding family: gather forward (token + position) and the sorted
// scatter-add backward, validated against the float64 reference on the inputs they are then
// timed on, reported in GB/s beside the copy ceilings of the same run.
import type { Gpu } from '../src/gpu/gpu.ts';
import { compareClose } from '../src/util/allclose.ts';
import { Rng } from '../src/util/prng.ts';
import { parseList, parseSizes, printRows, runCases, type BenchCase, type BenchContext, type BenchFamily } from './bench/harness.ts';
import { embedding, embeddingBackward, embeddingBytes, releaseTokenIds, uploadTokenIds } from './embedding.ts';
import { embeddingBackwardRef, embeddingRef } from './embedding.ref.ts';

const PASSES = ['fwd', 'bwd'] as const;
type Pass = (typeof PASSES)[number];

function embeddingCase(gpu: Gpu, pass: Pass, [N, D, V]: [number, number, number], seed: number): BenchCase {
  const rng = new Rng(seed);
  // 64 tokens per sequence: the position table is one more stream of reads in the forward.
  const T = N % 64 === 0 ? 64 : N;
  const ids = Array.from({ length: N }, () => rng.int(V));
  const I = uploadTokenIds(gpu, ids, { shape: [N / T, T], vocab: V, label: 'bench:ids' });
  const src = rng.floats(pass === 'fwd' ? V * D : N * D);
  const pos = rng.floats(T * D);
  const S = gpu.upload(src, 'bench:src');
  const P = gpu.upload(pos, 'bench:pos');
  const outFloats = pass === 'fwd' ? N * D : V * D;
  const O = gpu.alloc(outFloats, 'bench:out');
  const record =
    pass === 'fwd'
      ? () => embedding(gpu, { ids: I, table: { buffer: S, shape: [V, D] }, pos: { buffer: P, shape: [T, D] }, out: { buffer: O, shape: [N / T, T, D] } })
      : () => embeddingBackward(gpu, { ids: I, dout: { buffer: S, shape: [N / T, T, D] }, dTable: { buffer: O, shape: [V, D] } });
  return {
    variant: pass,
    shape: `${N}x${D}x${V}`,
    // Napkin math: forward reads an id, a table row and a position row per token and writes a row;
    // backward reads every dOut row and the index once (ids, V+1 starts) and writes all of dTable.
    work: { bytes: pass === 'fwd' ? embeddingBytes(N, D, true) : 4 * (N * D + V * D + 2 * N + V + 1) },
    record,
    async validate() {
      gpu.write(O, new Float32Array(outFloats).fill(NaN));
      record();
      const got = await gpu.read(O, outFloats, 0, 'bench:embedding:validate');
      const want = pass === 'fwd' ? embeddingRef(src, ids, D, { table: pos, T }) : embeddingBackwardRef(src, ids, V, D).dTable;
      const sample = Array.from({ length: Math.min(outFloats, 1 << 16) }, () => rng.int(outFloats));
      const c = compareClose(got, want, { atol: 1e-5, rtol: 1e-5 }, sample);
      return { ok: c.ok, maxAbsError: c.maxAbsError, checked: c.count };
    },
    release() {
      releaseTokenIds(gpu, I);
      for (const b of [S, P, O]) gpu.release(b);
    },
  };
}

export function* embeddingCases(ctx: BenchContext): Generator<BenchCase> {
  const sizes = parseSizes(ctx.sizes ?? (ctx.gpu.software ? '4096x256x8192,16384x512x8192' : '65536x768x50304'), ['NxDxV'], 'tokens x dim x vocab');
  const passes = parseList<Pass>('variant', ctx.variant, PASSES);
  for (const s of sizes) for (const p of passes) yield embeddingCase(ctx.gpu, p, s as [number, number, number], ctx.seed);
}

export const embeddingBench: BenchFamily = {
  name: 'embedding',
  describe: 'token+position gather and sorted scatter-add backward; GB/s vs the copy ceilings',
  async run(ctx) {
    return printRows(ctx, await runCases(ctx, 'embedding', embeddingCases(ctx)), { variant: 'pass', shape: 'N x D x V' });
  },
};
