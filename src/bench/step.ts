// `coca bench step`: one CoCa training step (forward, both losses, backward, AdamW) per preset at
// batch 32: ms per step, GFLOP/s from the counted FLOPs, peak GPU memory from the buffer pool,
// dispatches, reads back and host time per step (what bounds small models on a real GPU),
// and PyTorch's CPU step on the same machine in the same run (scripts/reference/coca_torch.py
// --time-serve, OMP_WAIT_POLICY=PASSIVE, 2 threads) as a ratio. The two take turns, a few steps
// each per round, so that both are timed on the same machine minute: the ratio is the median of
// the rounds' ratios, printed with their range.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
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
  /** coca / PyTorch: the median of the rounds' ratios (each round's medians), and their range. */
  ratio: number | null;
  ratioRange: [number, number] | null;
  rounds: number;
  note?: string;
}

/** PyTorch's step in a child process that runs steps when asked (coca_torch.py --time-serve). */
class TorchSteps {
  private constructor(
    private readonly child: ChildProcessWithoutNullStreams,
    private readonly lines: AsyncIterator<string>,
  ) {}

  /** Starts it and waits through its warm-up; a note instead where PyTorch cannot run here. */
  static async start(preset: string, batch: number): Promise<TorchSteps | { note: string }> {
    const child = spawn('/usr/bin/python3', [TORCH, '--config', preset, '--time-serve', '--batch', String(batch), '--warmup', '3', '--threads', '2'], {
      env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' },
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const failed = new Promise<void>((resolve) => child.on('error', (e) => ((stderr += e.message), resolve())));
    const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    const first = await Promise.race([lines.next(), failed.then(() => ({ done: true, value: undefined }))]);
    const ready = (() => {
      try {
        return !first.done && (JSON.parse(first.value ?? '') as { ready?: boolean }).ready === true;
      } catch {
        return false;
      }
    })();
    if (!ready) {
      child.kill();
      return { note: `PyTorch column skipped: ${stderr.trim().split('\n').pop() || 'coca_torch.py --time-serve ended before it was ready'}` };
    }
    return new TorchSteps(child, lines);
  }

  async steps(n: number): Promise<number[]> {
    this.child.stdin.write(`${n}\n`);
    const r = await this.lines.next();
    if (r.done) throw new Error('step bench: coca_torch.py --time-serve ended mid-run');
    return (JSON.parse(r.value) as { ms: number[] }).ms;
  }

  close(): void {
    this.child.stdin.end();
  }
}

export const stepBench: BenchFamily = {
  name: 'step',
  describe: 'a CoCa training step per preset (--sizes nano,tiny; batch 32) vs PyTorch on the CPU in alternating rounds, with dispatches, reads back, bytes back and host ms per step',
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
      const torch = ctx.blas ? await TorchSteps.start(preset, B) : { note: 'PyTorch column skipped (--no-blas)' };
      if ('note' in torch) console.log(`  ${torch.note}`);
      // Rounds of PER coca steps and PER PyTorch steps, the order swapped every round.
      const rounds = Math.max(3, ctx.runs);
      const PER = 3;
      const ms: number[] = [];
      const torchMs: number[] = [];
      const ratios: number[] = [];
      const per = { dispatches: [] as number[], reads: [] as number[], bytesRead: [] as number[], hostMs: [] as number[] };
      const cocaSteps = async () => {
        const round: number[] = [];
        for (let i = 0; i < PER; i++) {
          const c0 = { ...gpu.counters };
          const w0 = gpu.waiter.slept + gpu.waiter.awaited;
          const t0 = performance.now();
          const r = await trainStep(model, opt, inp);
          const wall = performance.now() - t0;
          round.push(wall);
          per.dispatches.push(gpu.counters.dispatches - c0.dispatches);
          per.reads.push(gpu.counters.reads - c0.reads);
          per.bytesRead.push(gpu.counters.bytesRead - c0.bytesRead);
          per.hostMs.push(wall - (gpu.waiter.slept + gpu.waiter.awaited - w0));
          if (r.nonFinite) throw new Error(`step bench: ${preset}: ${r.nonFinite}`);
        }
        return round;
      };
      try {
        for (let r = 0; r < rounds; r++) {
          let c: number[] = [];
          let t: number[] = [];
          if (r % 2 === 1 && !('note' in torch)) t = await torch.steps(PER);
          c = await cocaSteps();
          if (r % 2 === 0 && !('note' in torch)) t = await torch.steps(PER);
          ms.push(...c);
          torchMs.push(...t);
          if (t.length) ratios.push(median(c) / median(t));
        }
      } finally {
        if (!('note' in torch)) torch.close();
      }
      const peak = gpu.pool.snapshot().peakInUseBytes;
      const flops = stepFlops(config, B).step;
      const m = median(ms);
      p.done(`${fmt(m, 0)} ms/step`);
      inp.release();
      opt.release();
      model.params.release();
      rows.push({
        preset, batch: B, params: model.params.count(), stepGflop: flops / 1e9, ms: m, gflops: flops / (m * 1e6), peakMiB: peak / 2 ** 20,
        dispatches: median(per.dispatches), reads: median(per.reads), bytesRead: median(per.bytesRead), hostMs: median(per.hostMs),
        torchMs: torchMs.length ? median(torchMs) : null, ratio: ratios.length ? median(ratios) : null,
        ratioRange: ratios.length ? [Math.min(...ratios), Math.max(...ratios)] : null, rounds, note: 'note' in torch ? torch.note : undefined,
      });
    }
    console.log();
    printTable(
      ['preset', 'batch', 'params', 'GFLOP/step', 'ms/step', 'GFLOP/s', 'peak GPU MiB', 'dispatches', 'reads back', 'bytes back', 'host ms', 'PyTorch ms/step', 'coca / PyTorch (rounds: range)'],
      rows.map((r) => [
        r.preset, String(r.batch), r.params.toLocaleString('en'), fmt(r.stepGflop, 2), fmt(r.ms, 0), fmt(r.gflops, 2), fmt(r.peakMiB, 1), String(r.dispatches), String(r.reads), String(r.bytesRead), fmt(r.hostMs, 0),
        r.torchMs === null ? '–' : fmt(r.torchMs, 0),
        r.ratio === null ? '–' : `×${fmt(r.ratio, 2)} (${r.rounds}: ${fmt(r.ratioRange![0], 2)}–${fmt(r.ratioRange![1], 2)})`,
      ]),
      1,
    );
    return { failed: 0, report: rows };
  },
};
