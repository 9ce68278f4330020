// Bench cases of the AdamW family: the update over a flat parameter buffer, the global gradient
// norm, norm + in-place clip, and the moving average of the weights after it (kernels/ema.ts), validated against the float64 reference on the inputs they are
// then timed on, reported in GB/s beside the copy ceilings of the same run.
import type { Gpu } from '../src/gpu/gpu.ts';
import { compareClose } from '../src/util/allclose.ts';
import { Rng } from '../src/util/prng.ts';
import { parseList, parseSizes, printRows, runCases, type BenchCase, type BenchContext, type BenchFamily } from './bench/harness.ts';
import { adamw, clipGradNorm, gradNorm, STATS_FLOATS, type AdamWHyper, type AdamWSegment } from './adamw.ts';
import { adamwRef, gradNormRef } from './adamw.ref.ts';
import { emaUpdate } from './ema.ts';
import { emaRef } from './ema.ref.ts';

const PASSES = ['step', 'norm', 'clip', 'ema'] as const;
type Pass = (typeof PASSES)[number];

// Napkin math per element: step reads p, g, m, v and writes p, m, v (28 bytes); norm reads g
// (4); clip reads g for the norm, then reads and writes it to scale (12); ema reads the average
// and the weights and writes the average (12).
const BYTES: Record<Pass, number> = { step: 28, norm: 4, clip: 12, ema: 12 };

const HYPER: AdamWHyper = { lr: 1e-3, beta1: 0.9, beta2: 0.98, eps: 1e-6, weightDecay: 0.1 };

function adamwCase(gpu: Gpu, pass: Pass, n: number, seed: number): BenchCase {
  const rng = new Rng(seed);
  const g = rng.floats(n);
  const p0 = rng.floats(n);
  const G = gpu.upload(g, 'bench:grads');
  const stats = gpu.alloc(STATS_FLOATS, 'bench:stats');
  const sample = Array.from({ length: Math.min(n, 4096) }, () => rng.int(n));
  const grads = [{ buffer: G, length: n }];
  const common = { variant: pass, shape: String(n), work: { bytes: BYTES[pass] * n } };
  if (pass === 'ema') {
    const [E, S] = [gpu.upload(p0, 'bench:ema'), gpu.upload(g, 'bench:weights')];
    const record = () => emaUpdate(gpu, { ema: E, src: S, length: n, decay: 0.999 });
    return {
      ...common,
      record,
      async validate() {
        gpu.write(E, p0);
        record();
        const ref = Float64Array.from(p0);
        emaRef(ref, g, 0, n, 0.999);
        const c = compareClose(await gpu.read(E, n, 0, 'bench:ema:validate'), ref, { atol: 1e-7, rtol: 1e-6 }, sample);
        return { ok: c.ok, maxAbsError: c.maxAbsError, checked: c.count };
      },
      release: () => [G, stats, E, S].forEach((b) => gpu.release(b)),
    };
  }
  if (pass !== 'step') {
    return {
      ...common,
      // Clipping the same gradients again and again shrinks them towards 0, which costs the same
      // bytes; the scale is what is validated.
      record: pass === 'norm' ? () => gradNorm(gpu, grads, stats, 1.0) : () => clipGradNorm(gpu, grads, 1.0, stats),
      async validate() {
        const want = gradNormRef([g], 1.0);
        gpu.write(stats, new Float32Array(STATS_FLOATS).fill(NaN));
        gradNorm(gpu, grads, stats, 1.0);
        const c = compareClose(await gpu.read(stats, 2, 0, 'bench:adamw:validate'), [want.norm, want.scale], { atol: 0, rtol: 1e-5 });
        return { ok: c.ok, maxAbsError: c.maxAbsError, checked: c.count };
      },
      release: () => [G, stats].forEach((b) => gpu.release(b)),
    };
  }
  const [P, M, V] = [gpu.upload(p0, 'bench:params'), gpu.upload(new Float32Array(n), 'bench:m'), gpu.upload(new Float32Array(n), 'bench:v')];
  // A decayed block and a no-decay tail, as a model's weights and its biases and norms.
  const segments: AdamWSegment[] = [{ offset: 0, length: n - Math.floor(n / 16), decay: true }, { offset: n - Math.floor(n / 16), length: Math.floor(n / 16), decay: false }].filter((s) => s.length > 0);
  let step = 1;
  const record = () => adamw(gpu, { params: P, grads: G, m: M, v: V, segments, step: step++, hyper: HYPER });
  return {
    ...common,
    record,
    async validate() {
      record();
      const ref = { param: Float64Array.from(p0), m: new Float64Array(n), v: new Float64Array(n) };
      adamwRef(ref, g, segments, 1, HYPER);
      const c = compareClose(await gpu.read(P, n, 0, 'bench:adamw:validate'), ref.param, { atol: 1e-7, rtol: 1e-6 }, sample);
      return { ok: c.ok, maxAbsError: c.maxAbsError, checked: c.count };
    },
    release: () => [G, stats, P, M, V].forEach((b) => gpu.release(b)),
  };
}

export function* adamwCases(ctx: BenchContext): Generator<BenchCase> {
  const sizes = parseSizes(ctx.sizes ?? (ctx.gpu.software ? '1000003,16777216' : '16777216,67108864'), ['n'], 'elements');
  const passes = parseList<Pass>('variant', ctx.variant, PASSES);
  for (const [n] of sizes) for (const p of passes) yield adamwCase(ctx.gpu, p, n!, ctx.seed);
}

export const adamwBench: BenchFamily = {
  name: 'adamw',
  describe: 'AdamW update over a flat buffer, global grad norm, norm + in-place clip, weight average (--ema); GB/s vs the copy ceilings',
  async run(ctx) {
    return printRows(ctx, await runCases(ctx, 'adamw', adamwCases(ctx)), { variant: 'pass', shape: 'elements' });
  },
};
