// Where the device time of a training step goes, per kernel (GPU timestamps around every
// dispatch). Usage: node --import tsx scripts/profile-step.ts [preset] [batch] [--by-label] [--all]
// (--all lists every row, not the 20 biggest: what counting dispatches by label needs)
import { getGpu } from '../src/gpu/gpu.ts';
import { CocaModel } from '../src/model/coca.ts';
import { loadConfig } from '../src/model/config.ts';
import { AdamW } from '../src/train/adamw.ts';
import { syntheticBatch, trainStep } from '../src/train/step.ts';
import { Rng } from '../src/util/prng.ts';

const preset = process.argv[2] ?? 'tiny';
const B = Number(process.argv[3] && !process.argv[3].startsWith('--') ? process.argv[3] : 32);
const gpu = await getGpu();
const model = CocaModel.init(gpu, loadConfig(preset), 1);
const opt = new AdamW(gpu, model.params, { lr: 1e-4 });
const inp = model.prepare(syntheticBatch(model, B, new Rng(1)));
for (let i = 0; i < 2; i++) await trainStep(model, opt, inp);
const t0 = performance.now();
await trainStep(model, opt, inp);
const wall = performance.now() - t0;
gpu.enableProfiling({ byLabel: process.argv.includes('--by-label') });
const N = 2;
for (let i = 0; i < N; i++) await trainStep(model, opt, inp);
await gpu.sync();
const rows = [...gpu.profile()].map(([k, v]) => ({ k, ms: v.ms / N, n: v.count / N })).sort((a, b) => b.ms - a.ms);
const total = rows.reduce((s, r) => s + r.ms, 0);
console.log(`${preset} batch ${B}: ${wall.toFixed(0)} ms/step wall (unprofiled), ${total.toFixed(0)} ms device time in ${rows.reduce((s, r) => s + r.n, 0)} dispatches`);
for (const r of process.argv.includes('--all') ? rows : rows.slice(0, 20)) console.log(`${r.ms.toFixed(1).padStart(8)} ms ${((100 * r.ms) / total).toFixed(1).padStart(5)} %  ${String(r.n).padStart(4)}×  ${r.k}`);
gpu.destroy();
