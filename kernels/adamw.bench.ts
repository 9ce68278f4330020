// Bench cases of the AdamW family: the update over a flat parameter buffer, the global gradient
// norm, and norm + in-place clip, validated against the float64 reference on the inputs they are
// then timed on, reported in GB/s beside the copy ceilings of the same run.
import type { Gpu } from '../src/gpu/gpu.ts';
import { timeCalls } from '../src/bench/measure.ts';
import { compareClose } from '../src/util/allclose.ts';
import { Rng } from '../src/util/prng.ts';
import { BenchInputError, parseList, printBandwidthRows, runCases, type BenchFamily } from '../src/bench/family.ts';
import { adamw, clipGradNorm, gradNorm, STATS_FLOATS, type AdamWHyper, type AdamWSegment } from './adamw.ts';
import { adamwRef, gradNormRef } from './adamw.ref.ts';

const PASSES = ['step', 'norm', 'clip'] as const;
type Pass = (typeof PASSES)[number];

// Napkin math per element: step reads p, g, m, v and writes p, m, v (28 bytes); norm reads g
// (4); clip reads g for the norm, then reads and writes it to scale (12).
const BYTES: Record<Pass, number> = { step: 28, norm: 4, clip: 12 };

interface Row {
  pass: Pass;
  n: number;
  ms: number;
  gbps: number;
  ok: boolean;
  maxAbsError: number;
}

const HYPER: AdamWHyper = { lr: 1e-3, beta1: 0.9, beta2: 0.98, eps: 1e-6, weightDecay: 0.1 };

async function benchCase(gpu: Gpu, pass: Pass, n: number, opts: { runs: number; seed: number }): Promise<Row> {
  const rng = new Rng(opts.seed);
  const g = rng.floats(n);
  const p0 = rng.floats(n);
  const G = gpu.upload(g, 'bench:grads');
  const stats = gpu.alloc(STATS_FLOATS, 'bench:stats');
  const sample = Array.from({ length: Math.min(n, 4096) }, () => rng.int(n));
  let ok: boolean;
  let maxAbsError: number;
  let record: () => void;
  const extra: GPUBuffer[] = [];
  if (pass === 'step') {
    const [P, M, V] = [gpu.upload(p0, 'bench:params'), gpu.upload(new Float32Array(n), 'bench:m'), gpu.upload(new Float32Array(n), 'bench:v')];
    extra.push(P, M, V);
    // A decayed block and a no-decay tail, as a model's weights and its biases and norms.
    const segments: AdamWSegment[] = [{ offset: 0, length: n - Math.floor(n / 16), decay: true }, { offset: n - Math.floor(n / 16), length: Math.floor(n / 16), decay: false }].filter((s) => s.length > 0);
    let step = 1;
    record = () => adamw(gpu, { params: P, grads: G, m: M, v: V, segments, step: step++, hyper: HYPER });
    record();
    const ref = { param: Float64Array.from(p0), m: new Float64Array(n), v: new Float64Array(n) };
    adamwRef(ref, g, segments, 1, HYPER);
    const c = compareClose(await gpu.read(P, n, 0, 'bench:adamw:validate'), ref.param, { atol: 1e-7, rtol: 1e-6 }, sample);
    [ok, maxAbsError] = [c.ok, c.maxAbsError];
  } else {
    const want = gradNormRef([g], 1.0);
    gradNorm(gpu, [{ buffer: G, length: n }], stats, 1.0);
    const got = await gpu.read(stats, 2, 0, 'bench:adamw:validate');
    const c = compareClose(got, [want.norm, want.scale], { atol: 0, rtol: 1e-5 });
    [ok, maxAbsError] = [c.ok, c.maxAbsError];
    // Clipping the same gradients again and again shrinks them towards 0, which costs the
    // same bytes; the scale is what was validated.
    record = pass === 'norm' ? () => gradNorm(gpu, [{ buffer: G, length: n }], stats, 1.0) : () => clipGradNorm(gpu, [{ buffer: G, length: n }], 1.0, stats);
  }
  const t = await timeCalls(gpu, record, { tag: `bench:adamw:${pass}:${n}`, runs: opts.runs });
  for (const b of [G, stats, ...extra]) gpu.release(b);
  return { pass, n, ms: t.ms, gbps: (BYTES[pass] * n) / (t.ms * 1e6), ok, maxAbsError };
}

export const adamwBench: BenchFamily = {
  name: 'adamw',
  describe: 'AdamW update over a flat buffer, global grad norm, norm + in-place clip; GB/s vs the copy ceilings',
  async run(ctx) {
    const sizes = (ctx.sizes ?? (ctx.gpu.software ? '1000003,16777216' : '16777216,67108864')).split(',').map((s) => {
      const n = Number(s.trim());
      if (!Number.isInteger(n) || n <= 0) throw new BenchInputError(`--sizes: "${s}" is not a positive element count`);
      return n;
    });
    const passes = parseList<Pass>('variant', ctx.variant, PASSES);
    const rows = await runCases('adamw', sizes, passes, (n) => String(n), (pass, size) => benchCase(ctx.gpu, pass, size, ctx));
    return printBandwidthRows(ctx, ['pass', 'elements'], (r) => [r.pass, String(r.n)], rows);
  },
};
