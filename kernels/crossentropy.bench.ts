// Bench cases of the cross-entropy family: loss only, loss with the fused gradient, and the
// separate backward, validated against the float64 reference on the inputs they are then timed
// on, reported in GB/s beside the copy ceilings of the same run.
import type { Gpu } from '../src/gpu/gpu.ts';
import { compareClose } from '../src/util/allclose.ts';
import { Rng } from '../src/util/prng.ts';
import { parseList, parseSizes, printRows, runCases, type BenchCase, type BenchContext, type BenchFamily } from './bench/harness.ts';
import { crossEntropy, crossEntropyBackward } from './crossentropy.ts';
import { crossEntropyBackwardRef, crossEntropyRef } from './crossentropy.ref.ts';
import { releaseTokenIds, uploadTokenIds } from './embedding.ts';

const PASSES = ['fwd', 'fused', 'bwd'] as const;
type Pass = (typeof PASSES)[number];

// Napkin math, logits dominate: fwd reads them once; fused reads them twice (the sweep for the
// gradient re-reads the row) and writes the gradient; bwd reads once and writes once.
const BYTES_PER_LOGIT: Record<Pass, number> = { fwd: 4, fused: 12, bwd: 8 };

function crossEntropyCase(gpu: Gpu, pass: Pass, [N, V]: [number, number], seed: number): BenchCase {
  const rng = new Rng(seed);
  const logits = rng.floats(N * V, -8, 8);
  const targets = Array.from({ length: N }, (_, n) => (n % 8 === 7 ? -100 : rng.int(V)));
  const L = gpu.upload(logits, 'bench:logits');
  const T = uploadTokenIds(gpu, targets, { label: 'bench:targets' });
  const loss = gpu.alloc(1, 'bench:loss');
  const stats = gpu.alloc(2 * N, 'bench:stats');
  const grad = gpu.alloc(N * V, 'bench:grad');
  const lg = { buffer: L, shape: [N, V] };
  const fwd = (withGrad: boolean) => crossEntropy(gpu, { logits: lg, targets: T, loss: { buffer: loss }, stats: { buffer: stats, shape: [N, 2] }, grad: withGrad ? { buffer: grad, shape: [N, V] } : undefined });
  const record = pass === 'bwd' ? () => crossEntropyBackward(gpu, { logits: lg, targets: T, stats: { buffer: stats, shape: [N, 2] }, dlogits: { buffer: grad, shape: [N, V] } }) : () => fwd(pass === 'fused');
  return {
    variant: pass,
    shape: `${N}x${V}`,
    work: { bytes: BYTES_PER_LOGIT[pass] * N * V },
    record,
    async validate() {
      gpu.write(grad, new Float32Array(N * V).fill(NaN));
      fwd(false); // the backward reads the stats of a forward
      record();
      // Validate a handful of whole rows (the reference of 16 Mi logits would take seconds).
      const rows = N <= 16 ? Array.from({ length: N }, (_, i) => i) : [0, N - 1, ...Array.from({ length: 14 }, () => rng.int(N))];
      let ok = true;
      let maxAbsError = 0;
      const count = targets.filter((v) => v !== -100).length;
      for (const r of rows) {
        const x = logits.subarray(r * V, (r + 1) * V);
        const t = [targets[r]!];
        const s = crossEntropyRef(x, t, V, -100);
        const checks = [compareClose(await gpu.read(stats, 2, 2 * r, 'bench:crossentropy:validate'), s.stats, { atol: 1e-5, rtol: 1e-5 })];
        if (pass !== 'fwd') {
          const want = crossEntropyBackwardRef(x, t, V, -100, s.count / count);
          checks.push(compareClose(await gpu.read(grad, V, r * V, 'bench:crossentropy:validate'), want, { atol: 1e-6 / count, rtol: 1e-4 }));
        }
        for (const c of checks) {
          ok &&= c.ok;
          maxAbsError = Math.max(maxAbsError, c.maxAbsError);
        }
      }
      return { ok, maxAbsError };
    },
    release() {
      releaseTokenIds(gpu, T);
      for (const b of [L, loss, stats, grad]) gpu.release(b);
    },
  };
}

export function* crossEntropyCases(ctx: BenchContext): Generator<BenchCase> {
  // 16 Mi logits each: the size the pointwise and layernorm targets are stated at.
  const sizes = parseSizes(ctx.sizes ?? (ctx.gpu.software ? '2048x8192,334x50257' : '8192x8192,2048x50257'), ['NxV'], 'rows x vocab');
  const passes = parseList<Pass>('variant', ctx.variant, PASSES);
  for (const s of sizes) for (const p of passes) yield crossEntropyCase(ctx.gpu, p, s as [number, number], ctx.seed);
}

export const crossEntropyBench: BenchFamily = {
  name: 'crossentropy',
  describe: 'fused log-softmax + NLL over the vocabulary (loss, loss+grad, grad); GB/s vs the copy ceilings',
  async run(ctx) {
    return printRows(ctx, await runCases(ctx, 'crossentropy', crossEntropyCases(ctx)), { variant: 'pass', shape: 'N x V' });
  },
};
