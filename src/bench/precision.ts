// `coca bench precision`: what --precision f16 costs or saves in a training step on this adapter:
// the step per preset at batch 32, f32 and f16 steps alternating on one model (so that both see
// the same load), f16 at torch's initial loss scale as `coca train` runs it. The products alone:
// `coca bench matmul-f16` (kernels/matmul-f16.bench.ts).
import { CocaModel } from '../model/coca.ts';
import { loadConfig } from '../model/config.ts';
import { setPrecision } from '../tensor/precision.ts';
import { AdamW } from '../train/adamw.ts';
import { DEFAULT_LOSS_SCALE } from '../train/loss-scale.ts';
import { syntheticBatch, trainStep } from '../train/step.ts';
import { Rng } from '../util/prng.ts';
import { caseProgress, fmt, printTable, type BenchFamily } from '../../kernels/bench/harness.ts';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

interface StepRow {
  preset: string;
  f32Ms: number;
  f16Ms: number;
  /** f16 steps whose gradients overflowed at the loss scale (skipped: still timed). */
  overflowed: number;
}

export const precisionBench: BenchFamily = {
  name: 'precision',
  describe: '--precision f32 against f16 in one run: the training step per preset (--sizes nano; batch 32), steps alternating',
  async run(ctx) {
    const { gpu } = ctx;
    if (!gpu.has('shader-f16')) {
      console.log('  precision: this adapter lacks shader-f16; nothing to compare');
      return { failed: 0, report: { steps: [] } };
    }
    const presets = (ctx.sizes ?? 'nano').split(',').map((s) => s.trim());

    const B = 32;
    const steps: StepRow[] = [];
    for (const preset of presets) {
      const model = CocaModel.init(gpu, loadConfig(preset), ctx.seed);
      const opt = new AdamW(gpu, model.params, { lr: 1e-4 });
      const inp = model.prepare(syntheticBatch(model, B, new Rng(ctx.seed)));
      const p = caseProgress(`step ${preset} batch ${B}, f32 and f16 alternating`);
      const ms = { f32: [] as number[], f16: [] as number[] };
      let overflowed = 0;
      const step = async (precision: 'f32' | 'f16', timed: boolean) => {
        setPrecision(gpu, precision);
        const t0 = performance.now();
        const r = await trainStep(model, opt, inp, precision === 'f16' ? { lossScale: DEFAULT_LOSS_SCALE.initScale } : {});
        if (timed) ms[precision].push(performance.now() - t0);
        if (r.nonFinite && precision === 'f16' && Number.isFinite(r.total)) overflowed += timed ? 1 : 0;
        else if (r.nonFinite) throw new Error(`precision bench: ${preset} ${precision}: ${r.nonFinite}`);
      };
      try {
        for (let i = 0; i < 2; i++) for (const pr of ['f32', 'f16'] as const) await step(pr, false); // warm-up: pipelines, pool
        const n = Math.max(5, ctx.runs * 2);
        // Alternate which goes first, so that neither always follows the other.
        for (let i = 0; i < n; i++) for (const pr of i % 2 ? (['f16', 'f32'] as const) : (['f32', 'f16'] as const)) await step(pr, true);
      } finally {
        setPrecision(gpu, 'f32');
        inp.release();
        opt.release();
        model.params.release();
      }
      const row = { preset, f32Ms: median(ms.f32), f16Ms: median(ms.f16), overflowed };
      p.done(`f32 ${fmt(row.f32Ms, 0)} ms, f16 ${fmt(row.f16Ms, 0)} ms per step`);
      steps.push(row);
    }
    console.log();
    printTable(
      ['preset', 'batch', 'f32 ms/step', 'f16 ms/step', 'f16 / f32', 'f16 steps overflowed'],
      steps.map((r) => [r.preset, String(B), fmt(r.f32Ms, 0), fmt(r.f16Ms, 0), `×${fmt(r.f16Ms / r.f32Ms, 2)}`, String(r.overflowed)]),
      1,
    );
    return { failed: 0, report: { steps } };
  },
};
