// Where a batch-1 decoding step spends its time: per-kernel device time and dispatch counts over
// 30 greedy tokens with the KV cache (tiny preset, random weights), plus the wall time.
//   npx tsx scripts/profile-decode.ts [preset] [batch]
import { Gpu } from '../src/gpu/gpu.ts';
import { captionTokens } from '../src/infer/caption.ts';
import { CocaModel } from '../src/model/coca.ts';
import { loadConfig } from '../src/model/config.ts';
import { noGrad } from '../src/tensor/tape.ts';
import { tidy } from '../src/tensor/tensor.ts';
import { Rng } from '../src/util/prng.ts';

const preset = process.argv[2] ?? 'tiny';
const B = Number(process.argv[3] ?? 1);
const gpu = await Gpu.open();
const config = loadConfig(preset);
const model = CocaModel.init(gpu, config, 1);
const S = config.vision_cfg.image_size;
const rng = new Rng(1);
const images = Float32Array.from({ length: B * 3 * S * S }, () => rng.normal());
const patches = model.preparePatches(images, B);
const enc = noGrad(() => tidy(() => model.encodeImage(patches)));
const opts = { maxLen: 31, minLen: 30, beams: 1, stepper: 'cache' as const };
await captionTokens(model, enc.tokens, opts);
let t0 = performance.now();
await captionTokens(model, enc.tokens, opts);
const wall = performance.now() - t0;
gpu.enableProfiling();
await captionTokens(model, enc.tokens, opts);
const rows = [...gpu.profile()].sort((a, b) => b[1].ms - a[1].ms);
const total = rows.reduce((s, [, e]) => s + e.ms, 0);
const count = rows.reduce((s, [, e]) => s + e.count, 0);
console.log(`${preset} batch ${B}: wall ${wall.toFixed(0)} ms for 30 tokens (${(wall / 30).toFixed(2)} ms/token); profiled device time ${total.toFixed(0)} ms, ${count} dispatches (${(count / 30).toFixed(1)}/token)`);
for (const [k, e] of rows.slice(0, 15)) console.log(`${e.ms.toFixed(1).padStart(8)} ms ${String(e.count).padStart(6)}×  ${k}`);
