// Wall time of a training step (the `coca bench step` step: batch 32, synthetic batch) under two
// sets of settings, steps alternating A, B, B, A, … in one process so that both see the same
// machine; medians and quartiles. The settings are comma-separated NAME=VALUE lists:
//   A='COCA_SG_VEC4=0,COCA_ATTENTION_MASKS=1,COCA_LN_SG=0,COCA_ADAMW_VEC4=0' B='' STEPS=16 npx tsx scripts/ab-step.ts tiny
import { Gpu } from '../src/gpu/gpu.ts';
import { CocaModel } from '../src/model/coca.ts';
import { loadConfig } from '../src/model/config.ts';
import { AdamW } from '../src/train/adamw.ts';
import { syntheticBatch, trainStep } from '../src/train/step.ts';
import { Rng } from '../src/util/prng.ts';
import { quantile } from './ab-report.ts';

const preset = process.argv[2] ?? 'tiny';
const STEPS = Number(process.env.STEPS ?? 12);
const parse = (s: string) => s.split(',').filter(Boolean).map((kv) => kv.split('=') as [string, string]);
const sets = { A: parse(process.env.A ?? ''), B: parse(process.env.B ?? '') };
const names = [...new Set([...sets.A, ...sets.B].map(([k]) => k))];
const apply = (set: [string, string][]) => {
  for (const n of names) delete process.env[n];
  for (const [k, v] of set) process.env[k] = v;
};
const gpu = await Gpu.open();
const model = CocaModel.init(gpu, loadConfig(preset), 1);
const opt = new AdamW(gpu, model.params, { lr: 1e-4 });
const inp = model.prepare(syntheticBatch(model, 32, new Rng(1)));
const ms = { A: [] as number[], B: [] as number[] };
for (let i = -2; i < STEPS; i++) {
  for (const which of (i & 1 ? ['B', 'A'] : ['A', 'B']) as ('A' | 'B')[]) {
    apply(sets[which]);
    const t0 = performance.now();
    await trainStep(model, opt, inp);
    if (i >= 0) ms[which].push(performance.now() - t0);
  }
}
for (const w of ['A', 'B'] as const) console.log(`${preset} ${w} (${process.env[w] || 'defaults'}): median ${quantile(ms[w], 0.5).toFixed(0)} ms (quartiles ${quantile(ms[w], 0.25).toFixed(0)}–${quantile(ms[w], 0.75).toFixed(0)}, ${ms[w].length} steps)`);
console.log(`A: ${ms.A.map((x) => x.toFixed(0)).join(" ")}\nB: ${ms.B.map((x) => x.toFixed(0)).join(" ")}`);
const ratios = ms.A.map((a, i) => ms.B[i]! / a);
console.log(`B / A per pair: median ${quantile(ratios, 0.5).toFixed(3)} (quartiles ${quantile(ratios, 0.25).toFixed(3)}–${quantile(ratios, 0.75).toFixed(3)})`);
gpu.destroy();
