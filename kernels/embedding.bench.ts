// Bench cases of the embedding family: gather forward (token + position) and the sorted
// scatter-add backward, validated against the float64 reference on the inputs they are then
// timed on, reported in GB/s beside the copy ceilings of the same run.
import type { Gpu } from '../src/gpu/gpu.ts';
import { timeCalls } from '../src/bench/measure.ts';
import { compareClose } from '../src/util/allclose.ts';
import { Rng } from '../src/util/prng.ts';
import { BenchInputError, parseList, printBandwidthRows, runCases, type BenchFamily } from '../src/bench/family.ts';
import { embedding, embeddingBackward, embeddingBytes, releaseTokenIds, uploadTokenIds } from './embedding.ts';
import { embeddingBackwardRef, embeddingRef } from './embedding.ref.ts';

const PASSES = ['fwd', 'bwd'] as const;
type Pass = (typeof PASSES)[number];

interface Row {
  pass: Pass;
  N: number;
  D: number;
  V: number;
  ms: number;
  gbps: number;
  ok: boolean;
  maxAbsError: number;
}

function parseSizes(s: string): [number, number, number][] {
  return s.split(',').map((tok) => {
    const parts = tok.trim().split('x').map(Number);
    if (parts.length !== 3 || parts.some((d) => !Number.isInteger(d) || d <= 0)) throw new BenchInputError(`--sizes: "${tok}" is not NxDxV (tokens x dim x vocab)`);
    return parts as [number, number, number];
  });
}

async function benchCase(gpu: Gpu, pass: Pass, [N, D, V]: [number, number, number], opts: { runs: number; seed: number }): Promise<Row> {
  const rng = new Rng(opts.seed);
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
  gpu.write(O, new Float32Array(outFloats).fill(NaN));
  const record =
    pass === 'fwd'
      ? () => embedding(gpu, { ids: I, table: { buffer: S, shape: [V, D] }, pos: { buffer: P, shape: [T, D] }, out: { buffer: O, shape: [N / T, T, D] } })
      : () => embeddingBackward(gpu, { ids: I, dout: { buffer: S, shape: [N / T, T, D] }, dTable: { buffer: O, shape: [V, D] } });
  record();
  const got = await gpu.read(O, outFloats, 0, 'bench:embedding:validate');
  const want = pass === 'fwd' ? embeddingRef(src, ids, D, { table: pos, T }) : embeddingBackwardRef(src, ids, V, D).dTable;
  const sample = Array.from({ length: Math.min(outFloats, 1 << 16) }, () => rng.int(outFloats));
  const check = compareClose(got, want, { atol: 1e-5, rtol: 1e-5 }, sample);
  const t = await timeCalls(gpu, record, { tag: `bench:embedding:${pass}:${N}x${D}x${V}`, runs: opts.runs });
  releaseTokenIds(gpu, I);
  for (const b of [S, P, O]) gpu.release(b);
  // Napkin math: forward reads an id, a table row and a position row per token and writes a row;
  // backward reads every dOut row and the index once (ids, V+1 starts) and writes all of dTable.
  const bytes = pass === 'fwd' ? embeddingBytes(N, D, true) : 4 * (N * D + V * D + 2 * N + V + 1);
  return { pass, N, D, V, ms: t.ms, gbps: bytes / (t.ms * 1e6), ok: check.ok, maxAbsError: check.maxAbsError };
}

export const embeddingBench: BenchFamily = {
  name: 'embedding',
  describe: 'token+position gather and sorted scatter-add backward; GB/s vs the copy ceilings',
  async run(ctx) {
    const sizes = parseSizes(ctx.sizes ?? (ctx.gpu.software ? '4096x256x8192,16384x512x8192' : '65536x768x50304'));
    const passes = parseList<Pass>('variant', ctx.variant, PASSES);
    const rows = await runCases('embedding', sizes, passes, (s) => s.join('x'), (pass, size) => benchCase(ctx.gpu, pass, size, ctx));
    return printBandwidthRows(ctx, ['pass', 'N x D x V'], (r) => [r.pass, `${r.N}x${r.D}x${r.V}`], rows);
  },
};
