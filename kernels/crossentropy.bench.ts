// Bench cases of the cross-entropy family: loss only, loss with the fused gradient, and the
// separate backward, validated against the float64 reference on the inputs they are then timed
// on, reported in GB/s beside the copy ceilings of the same run.
import type { Gpu } from '../src/gpu/gpu.ts';
import { timeCalls } from '../src/bench/measure.ts';
import { compareClose } from '../src/util/allclose.ts';
import { Rng } from '../src/util/prng.ts';
import { BenchInputError, parseList, printBandwidthRows, runCases, type BenchFamily } from '../src/bench/family.ts';
import { crossEntropy, crossEntropyBackward } from './crossentropy.ts';
import { crossEntropyBackwardRef, crossEntropyRef } from './crossentropy.ref.ts';
import { releaseTokenIds, uploadTokenIds } from './embedding.ts';

const PASSES = ['fwd', 'fused', 'bwd'] as const;
type Pass = (typeof PASSES)[number];

interface Row {
  pass: Pass;
  N: number;
  V: number;
  ms: number;
  gbps: number;
  ok: boolean;
  maxAbsError: number;
}

// Napkin math, logits dominate: fwd reads them once; fused reads them twice (the sweep for the
// gradient re-reads the row) and writes the gradient; bwd reads once and writes once.
const BYTES_PER_LOGIT: Record<Pass, number> = { fwd: 4, fused: 12, bwd: 8 };

function parseSizes(s: string): [number, number][] {
  return s.split(',').map((tok) => {
    const parts = tok.trim().split('x').map(Number);
    if (parts.length !== 2 || parts.some((d) => !Number.isInteger(d) || d <= 0)) throw new BenchInputError(`--sizes: "${tok}" is not NxV (rows x vocab)`);
    return parts as [number, number];
  });
}

async function benchCase(gpu: Gpu, pass: Pass, [N, V]: [number, number], opts: { runs: number; seed: number }): Promise<Row> {
  const rng = new Rng(opts.seed);
  const logits = rng.floats(N * V, -8, 8);
  const targets = Array.from({ length: N }, (_, n) => (n % 8 === 7 ? -100 : rng.int(V)));
  const L = gpu.upload(logits, 'bench:logits');
  const T = uploadTokenIds(gpu, targets, { label: 'bench:targets' });
  const loss = gpu.alloc(1, 'bench:loss');
  const stats = gpu.alloc(2 * N, 'bench:stats');
  const grad = gpu.alloc(N * V, 'bench:grad');
  gpu.write(grad, new Float32Array(N * V).fill(NaN));
  const lg = { buffer: L, shape: [N, V] };
  const fwd = (withGrad: boolean) => crossEntropy(gpu, { logits: lg, targets: T, loss: { buffer: loss }, stats: { buffer: stats, shape: [N, 2] }, grad: withGrad ? { buffer: grad, shape: [N, V] } : undefined });
  const record = pass === 'bwd' ? () => crossEntropyBackward(gpu, { logits: lg, targets: T, stats: { buffer: stats, shape: [N, 2] }, dlogits: { buffer: grad, shape: [N, V] } }) : () => fwd(pass === 'fused');
  fwd(false); // the backward reads the stats of a forward
  record();
  // Validate a handful of whole rows (the reference of 16 Mi logits would take seconds).
  const rows = N <= 16 ? Array.from({ length: N }, (_, i) => i) : [0, N - 1, ...Array.from({ length: 14 }, () => rng.int(N))];
  let ok = true;
  let maxAbsError = 0;
  for (const r of rows) {
    const x = logits.subarray(r * V, (r + 1) * V);
    const t = [targets[r]!];
    const count = targets.filter((v) => v !== -100).length;
    const s = crossEntropyRef(x, t, V, -100);
    const gotStats = await gpu.read(stats, 2, 2 * r, 'bench:crossentropy:validate');
    const c1 = compareClose(gotStats, s.stats, { atol: 1e-5, rtol: 1e-5 });
    ok &&= c1.ok;
    maxAbsError = Math.max(maxAbsError, c1.maxAbsError);
    if (pass !== 'fwd') {
      const gotGrad = await gpu.read(grad, V, r * V, 'bench:crossentropy:validate');
      const want = crossEntropyBackwardRef(x, t, V, -100, s.count / count);
      const c2 = compareClose(gotGrad, want, { atol: 1e-6 / count, rtol: 1e-4 });
      ok &&= c2.ok;
      maxAbsError = Math.max(maxAbsError, c2.maxAbsError);
    }
  }
  const t = await timeCalls(gpu, record, { tag: `bench:crossentropy:${pass}:${N}x${V}`, runs: opts.runs });
  releaseTokenIds(gpu, T);
  for (const b of [L, loss, stats, grad]) gpu.release(b);
  return { pass, N, V, ms: t.ms, gbps: (BYTES_PER_LOGIT[pass] * N * V) / (t.ms * 1e6), ok, maxAbsError };
}

export const crossEntropyBench: BenchFamily = {
  name: 'crossentropy',
  describe: 'fused log-softmax + NLL over the vocabulary (loss, loss+grad, grad); GB/s vs the copy ceilings',
  async run(ctx) {
    // 16 Mi logits each: the size the pointwise and layernorm targets are stated at.
    const sizes = parseSizes(ctx.sizes ?? (ctx.gpu.software ? '2048x8192,334x50257' : '8192x8192,2048x50257'));
    const passes = parseList<Pass>('variant', ctx.variant, PASSES);
    const rows = await runCases('crossentropy', sizes, passes, (s) => s.join('x'), (pass, size) => benchCase(ctx.gpu, pass, size, ctx));
    return printBandwidthRows(ctx, ['pass', 'N x V'], (r) => [r.pass, `${r.N}x${r.V}`], rows);
  },
};
