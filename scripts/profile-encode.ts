// JS time spent encoding a step (issue 17: "a step planned once, replayed"): the synchronous part
// of (a) a batch-1 KV-cached decode step and (b) a training step — everything from the call to
// the submit that precedes the first wait — per step and per dispatch recorded, medians over
// steady-state steps (the device idle at the start of each).
//   node --import tsx scripts/profile-encode.ts [preset] [--decode-steps N] [--train-steps N] [--train-batch B] [--verbose]
// Two clocks: wall time (what pipelined decoding waits for) and the process's CPU time
// (process.cpuUsage), which other processes on a shared 2-core box inflate less. A decode step
// submits once, at its end, so while it is encoded the device's threads are idle and the CPU time
// is the JS thread's own; a training step submits part-way (uploads flush), so its CPU time also
// holds device work run meanwhile — compare training steps by wall time, best and median.
// Add `node --cpu-prof --cpu-prof-dir=/tmp/prof` to see where the time goes: the kept steps run
// under measuredStep(), so samples with it on the stack are the time reported.
import { Gpu } from '../src/gpu/gpu.ts';
import { CachedStepper } from '../src/infer/kvcache.ts';
import { CocaModel } from '../src/model/coca.ts';
import { loadConfig } from '../src/model/config.ts';
import { noGrad } from '../src/tensor/tape.ts';
import { tidy } from '../src/tensor/tensor.ts';
import { AdamW } from '../src/train/adamw.ts';
import { syntheticBatch, trainStep } from '../src/train/step.ts';
import { Rng } from '../src/util/prng.ts';

const argv = process.argv.slice(2);
const opt = (name: string, dflt: number) => {
  const i = argv.indexOf(name);
  return i >= 0 ? Number(argv[i + 1]) : dflt;
};
const preset = argv[0] && !argv[0].startsWith('--') ? argv[0] : 'tiny';
const decodeSteps = opt('--decode-steps', 60);
const trainSteps = opt('--train-steps', 15);
const trainBatch = opt('--train-batch', 8);
const verbose = argv.includes('--verbose');

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** The process's CPU time so far (user + system, all threads), ms. */
const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/** Runs `start` (which records and submits synchronously, then awaits), timing the synchronous part. */
async function timed<T>(gpu: Gpu, start: () => Promise<T>, kept = true): Promise<Run> {
  await gpu.sync();
  const g0 = bindGroupsCreated(gpu);
  const d0 = gpu.counters.dispatches;
  const c0 = cpuMs();
  const t0 = performance.now();
  const p = kept ? measuredStep(start) : start();
  const ms = performance.now() - t0;
  const cpu = cpuMs() - c0;
  const dispatches = gpu.counters.dispatches - d0;
  await p;
  return { ms, cpu, wall: performance.now() - t0, dispatches, groups: bindGroupsCreated(gpu) - g0 };
}

/** Bind groups created so far (NaN where the device layer does not count them: before h17-encode). */
function bindGroupsCreated(gpu: Gpu): number {
  const g = gpu as Gpu & { bindGroupStats?: () => { created: number } };
  return g.bindGroupStats?.().created ?? NaN;
}

/** The kept steps run under this name, so a --cpu-prof profile can be cut down to them. */
function measuredStep<T>(start: () => Promise<T>): Promise<T> {
  return start();
}

/** One step: JS encoding ms (wall, and the process's CPU), the whole step's wall ms (encoding, device, read back), dispatches, bind groups created. */
type Run = { ms: number; cpu: number; wall: number; dispatches: number; groups: number };

function report(what: string, runs: Run[]): void {
  if (runs.length === 0) return;
  const ms = median(runs.map((r) => r.ms));
  const min = Math.min(...runs.map((r) => r.ms));
  const cpu = median(runs.map((r) => r.cpu));
  const d = median(runs.map((r) => r.dispatches));
  const groups = median(runs.map((r) => r.groups));
  const per = (x: number) => `${((1000 * x) / d).toFixed(1)} µs/dispatch`;
  console.log(
    `${what}: ${d} dispatches, ${Number.isNaN(groups) ? 'a bind group made for each' : `${groups} bind groups made`}, ${runs.length} steps (medians)\n` +
      `  JS encode: wall ${ms.toFixed(2)} ms/step = ${per(ms)} (best ${min.toFixed(2)} ms = ${per(min)}); process CPU ${cpu.toFixed(2)} ms/step = ${per(cpu)}; whole step ${median(runs.map((r) => r.wall)).toFixed(1)} ms`,
  );
  if (verbose) console.log(`  wall: ${runs.map((r) => r.ms.toFixed(2)).join(' ')}\n  cpu:  ${runs.map((r) => r.cpu.toFixed(2)).join(' ')}`);
}

const gpu = await Gpu.open();
const config = loadConfig(preset);
const model = CocaModel.init(gpu, config, 1);

// (a) batch-1 KV-cached decoding: one stepper, steps at growing positions (as captioning runs).
{
  const S = config.vision_cfg.image_size;
  const rng = new Rng(1);
  const images = Float32Array.from({ length: 3 * S * S }, () => rng.normal());
  const enc = noGrad(() => tidy(() => model.encodeImage(model.preparePatches(images, 1))));
  // A first caption's worth of steps warms up (pipelines built, pool filled); then captions of
  // up to the context length each until `decodeSteps` steps are kept.
  const Lmax = config.text_cfg.context_length;
  const runs: Run[] = [];
  for (let round = 0; runs.length < decodeSteps; round++) {
    const stepper = new CachedStepper(model, enc.tokens, { beams: 1, maxLen: Lmax });
    const tokens = new Int32Array([1]);
    for (let i = 0; i < Lmax && (round === 0 || runs.length < decodeSteps); i++) {
      const kept = round > 0;
      const r = await timed(gpu, () => stepper.step(tokens), kept);
      if (kept) runs.push(r);
      tokens[0] = 3 + (i % 50);
    }
    stepper.release();
  }
  report(`${preset} decode, batch 1, KV cache`, runs);
}

// (b) a training step.
{
  const adam = new AdamW(gpu, model.params, { lr: 1e-4 });
  const inp = model.prepare(syntheticBatch(model, trainBatch, new Rng(1)));
  for (let i = 0; i < 3; i++) await trainStep(model, adam, inp);
  const runs: Run[] = [];
  for (let i = 0; i < trainSteps; i++) runs.push(await timed(gpu, () => trainStep(model, adam, inp)));
  report(`${preset} training step, batch ${trainBatch}`, runs);
}
gpu.destroy();
