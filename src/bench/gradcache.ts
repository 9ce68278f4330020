// `coca bench gradcache`: one training step on a contrastive batch of N pairs, in one piece
// (trainStep) and gradient-cached in micro-batches of M (src/train/gradcache.ts), side by side in
// one run: the buffer pool's peak GPU memory (in all, and above the weights, gradients and
// optimiser state held before the step) and ms per step. --sizes nano:1024/32 (preset:N/M, comma
// list). A step that does not fit (a buffer over the device's binding limit, out of memory) is
// reported as such: that is the point where one piece no longer fits.
import { CocaModel } from '../model/coca.ts';
import { loadConfig, PRESETS } from '../model/config.ts';
import { AdamW } from '../train/adamw.ts';
import { gradCachedStep } from '../train/gradcache.ts';
import { syntheticBatch, trainStep, type StepReport } from '../train/step.ts';
import { Rng } from '../util/prng.ts';
import { BenchInputError, caseProgress, fmt, printTable, type BenchFamily } from '../../kernels/bench/harness.ts';
import type { Gpu } from '../gpu/gpu.ts';

interface GradCacheRow {
  preset: string;
  N: number;
  /** Micro-batch; null for the step in one piece. */
  M: number | null;
  ms: number | null;
  peakMiB: number | null;
  /** Peak above what the model and optimiser held before the step. */
  stepMiB: number | null;
  loss: number | null;
  note?: string;
}

const MiB = 2 ** 20;

/** preset:N/M pairs. */
export function parseGradCacheSizes(text: string): { preset: string; N: number; M: number }[] {
  return text.split(',').map((tok) => {
    const m = /^\s*([a-z0-9]+):(\d+)\/(\d+)\s*$/.exec(tok);
    if (!m || !(PRESETS as readonly string[]).includes(m[1]!) || Number(m[3]) < 1 || Number(m[2]) % Number(m[3]) !== 0) {
      throw new BenchInputError(`--sizes ${tok.trim()}: give preset:N/M with a preset of ${PRESETS.join(', ')} and N a multiple of M, e.g. nano:1024/32`);
    }
    return { preset: m[1]!, N: Number(m[2]), M: Number(m[3]) };
  });
}

/** Runs `step` once to warm up and `runs` times timed, reporting the pool's peak; null figures when it cannot run. */
async function measure(gpu: Gpu, runs: number, label: string, step: () => Promise<StepReport>): Promise<Pick<GradCacheRow, 'ms' | 'peakMiB' | 'stepMiB' | 'loss' | 'note'>> {
  const p = caseProgress(label);
  try {
    await step(); // warm-up: pipelines compile, the pool fills
    const before = gpu.pool.snapshot().inUseBytes;
    gpu.pool.resetPeak();
    const ms: number[] = [];
    let loss = 0;
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      const r = await step();
      ms.push(performance.now() - t0);
      if (r.nonFinite) throw new Error(r.nonFinite);
      loss = r.total;
    }
    const peak = gpu.pool.snapshot().peakInUseBytes;
    const m = [...ms].sort((a, b) => a - b)[Math.floor(ms.length / 2)]!;
    p.done(`${fmt(m, 0)} ms/step, peak ${fmt(peak / MiB, 1)} MiB`);
    return { ms: m, peakMiB: peak / MiB, stepMiB: (peak - before) / MiB, loss };
  } catch (e) {
    const note = (e as Error).message.split('\n')[0]!;
    p.done(`does not run: ${note}`);
    return { ms: null, peakMiB: null, stepMiB: null, loss: null, note };
  }
}

export const gradCacheBench: BenchFamily = {
  name: 'gradcache',
  describe: 'a training step on a contrastive batch of N in one piece and gradient-cached in micro-batches of M: peak GPU memory and ms/step (--sizes nano:1024/32)',
  async run(ctx) {
    const { gpu } = ctx;
    const rows: GradCacheRow[] = [];
    const runs = Math.max(1, Math.min(ctx.runs, 3));
    for (const { preset, N, M } of parseGradCacheSizes(ctx.sizes ?? 'nano:1024/32')) {
      const model = CocaModel.init(gpu, loadConfig(preset), ctx.seed);
      // lr 0: every step sees the same weights, so both ways report the same loss (a check of the figures).
      const opt = new AdamW(gpu, model.params, { lr: 0 });
      const batch = syntheticBatch(model, N, new Rng(ctx.seed));
      try {
        const cached = await measure(gpu, runs, `${preset} N=${N} gradient-cached, M=${M}`, () => gradCachedStep(model, opt, batch, M));
        rows.push({ preset, N, M, ...cached });
        const whole = await measure(gpu, runs, `${preset} N=${N} in one piece`, async () => {
          const inp = model.prepare(batch);
          return trainStep(model, opt, inp).finally(() => inp.release());
        });
        rows.push({ preset, N, M: null, ...whole });
      } finally {
        // After a step that did not fit the device may be lost: nothing more to give back then.
        try {
          opt.release();
          model.params.release();
          gpu.pool.trim();
        } catch {}
      }
    }
    console.log();
    const one = (r: GradCacheRow) => rows.find((x) => x.preset === r.preset && x.N === r.N && x.M === null);
    printTable(
      ['preset', 'contrastive batch', 'micro-batch', 'ms/step', 'peak GPU MiB', 'step MiB (above weights + optimiser)', 'memory vs one piece', 'loss (same weights)'],
      rows.map((r) => {
        const base = one(r);
        const ratio = r.M !== null && r.peakMiB !== null && base?.peakMiB ? `×${fmt(r.peakMiB / base.peakMiB, 3)}` : '–';
        return [r.preset, String(r.N), r.M === null ? 'one piece' : String(r.M), r.ms === null ? '–' : fmt(r.ms, 0), r.peakMiB === null ? 'does not run' : fmt(r.peakMiB, 1), r.stepMiB === null ? '–' : fmt(r.stepMiB, 1), ratio, r.loss === null ? '–' : fmt(r.loss, 4)];
      }),
      1,
    );
    for (const r of rows) if (r.note) console.log(`  ${r.preset} N=${r.N} ${r.M === null ? 'in one piece' : `M=${r.M}`}: ${r.note}`);
    return { failed: 0, report: rows };
  },
};
