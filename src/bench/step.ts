// `coca bench step`: one CoCa training step (forward, both losses, backward, AdamW) per preset at
// batch 32: ms per step, GFLOP/s from the counted FLOPs, peak GPU memory from the buffer pool,
// dispatches, reads back and host time per step (what bounds small models on a real GPU),
// and PyTorch's CPU step on the same machine in the same run (scripts/reference/coca_torch.py
// --time, OMP_WAIT_POLICY=PASSIVE, 2 threads) as a ratio.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CocaModel } from '../model/coca.ts';
import { loadConfig } from '../model/config.ts';
import { stepFlops } from '../model/shapes.ts';
import { AdamW } from '../train/adamw.ts';
import { syntheticBatch, trainStep } from '../train/step.ts';
import { Rng } from '../util/prng.ts';
import { caseProgress, fmt, printTable, type BenchFamily } from '../../kernels/bench/harness.ts';

const TORCH = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'scripts', 'reference', 'coca_torch.py');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

interface StepRow {
  preset: string;
  batch: number;
  params: number;
  stepGflop: number;
  ms: number;
  gflops: number;
  peakMiB: number;
  /** Per step (medians): dispatches recorded, reads back to the CPU, bytes read back, and the host's own time (wall minus the time spent waiting for the GPU). */
  dispatches: number;
  reads: number;
  bytesRead: number;
  hostMs: number;
  torchMs: number | null;
  note?: string;
}

function torchStep(preset: string, batch: number, steps: number): { ms: number | null; note?: string } {
  const r = spawnSync('/usr/bin/python3', [TORCH, '--config', preset, '--time', '--batch', String(batch), '--steps', String(steps), '--warmup', '3', '--threads', '2'], {
    encoding: 'utf8',
    env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' },
    timeout: 900_000,
  });
  if (r.status !== 0) return { ms: null, note: `PyTorch column skipped: ${(r.stderr || r.error?.message || '').trim().split('\n').pop()}` };
  return { ms: (JSON.parse(r.stdout.trim().split('\n').pop()!) as { ms_per_step: number }).ms_per_step };
}

export const stepBench: BenchFamily = {
  name: 'step',
  describe: 'a CoCa training step per preset (--sizes nano,tiny; batch 32) vs PyTorch on the CPU, with dispatches, reads back, bytes back and host ms per step',
  async run(ctx) {
    const { gpu } = ctx;
    const presets = (ctx.sizes ?? 'nano,tiny').split(',').map((s) => s.trim());
    const B = 32;
    const rows: StepRow[] = [];
    for (const preset of presets) {
      const config = loadConfig(preset);
      const model = CocaModel.init(gpu, config, ctx.seed);
      const opt = new AdamW(gpu, model.params, { lr: 1e-4 });
      const inp = model.prepare(syntheticBatch(model, B, new Rng(ctx.seed)));
      const p = caseProgress(`step ${preset} batch ${B}`);
      for (let i = 0; i < 2; i++) await trainStep(model, opt, inp); // warm-up: JIT compiles, pool fills
      gpu.pool.resetPeak();
      const steps = Math.max(5, ctx.runs * 2);
      const ms: number[] = [];
      const per = { dispatches: [] as number[], reads: [] as number[], bytesRead: [] as number[], hostMs: [] as number[] };
      for (let i = 0; i < steps; i++) {
        const c0 = { ...gpu.counters };
        const w0 = gpu.waiter.slept + gpu.waiter.awaited;
        const t0 = performance.now();
        const r = await trainStep(model, opt, inp);
        const wall = performance.now() - t0;
        ms.push(wall);
        per.dispatches.push(gpu.counters.dispatches - c0.dispatches);
        per.reads.push(gpu.counters.reads - c0.reads);
        per.bytesRead.push(gpu.counters.bytesRead - c0.bytesRead);
        per.hostMs.push(wall - (gpu.waiter.slept + gpu.waiter.awaited - w0));
        if (r.nonFinite) throw new Error(`step bench: ${preset}: ${r.nonFinite}`);
      }
      const peak = gpu.pool.snapshot().peakInUseBytes;
      const flops = stepFlops(config, B).step;
      const m = median(ms);
      p.done(`${fmt(m, 0)} ms/step`);
      inp.release();
      opt.release();
      model.params.release();
      const torch = ctx.blas ? torchStep(preset, B, 10) : { ms: null, note: 'PyTorch column skipped (--no-blas)' };
      if (torch.note) console.log(`  ${torch.note}`);
      rows.push({ preset, batch: B, params: model.params.count(), stepGflop: flops / 1e9, ms: m, gflops: flops / (m * 1e6), peakMiB: peak / 2 ** 20, dispatches: median(per.dispatches), reads: median(per.reads), bytesRead: median(per.bytesRead), hostMs: median(per.hostMs), torchMs: torch.ms, note: torch.note });
    }
    console.log();
    printTable(
      ['preset', 'batch', 'params', 'GFLOP/step', 'ms/step', 'GFLOP/s', 'peak GPU MiB', 'dispatches', 'reads back', 'bytes back', 'host ms', 'PyTorch ms/step', 'coca / PyTorch'],
      rows.map((r) => [r.preset, String(r.batch), r.params.toLocaleString('en'), fmt(r.stepGflop, 2), fmt(r.ms, 0), fmt(r.gflops, 2), fmt(r.peakMiB, 1), String(r.dispatches), String(r.reads), String(r.bytesRead), fmt(r.hostMs, 0), r.torchMs === null ? '–' : fmt(r.torchMs, 0), r.torchMs === null ? '–' : `×${fmt(r.ms / r.torchMs, 2)}`]),
      1,
    );
    return { failed: 0, report: rows };
  },
};
