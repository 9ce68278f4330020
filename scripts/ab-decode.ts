// Greedy decoding time per token with a COCA_* kernel setting two ways, in one process, the two
// interleaved (a, b, b, a, ...) so that a busy machine's drift falls on both: the settings are
// read per call (gpu.setting), so one model and one set of pipelines serve both.
//   ROUNDS=30 npx tsx scripts/ab-decode.ts COCA_SKINNY_SG=0,1 [batch]
// tiny, random weights, 30 tokens (min-len 30), the first round a warm-up (ROUNDS, default 8,
// counts it); also the median of the rounds' ratios b / a, with quartiles.
import { Gpu } from '../src/gpu/gpu.ts';
import { captionTokens } from '../src/infer/caption.ts';
import { CocaModel } from '../src/model/coca.ts';
import { loadConfig } from '../src/model/config.ts';
import { noGrad } from '../src/tensor/tape.ts';
import { tidy } from '../src/tensor/tensor.ts';
import { quantile } from './ab-report.ts';
const [envName, a, b] = (process.argv[2] ?? 'COCA_VEC4B=0,1').split(/[=,]/);
const B = Number(process.argv[3] ?? 1);
const gpu = await Gpu.open();
const config = loadConfig('tiny');
const model = CocaModel.init(gpu, config, 1);
const S = config.vision_cfg.image_size;
const images = new Float32Array(B*3*S*S).map(()=>Math.random());
const patches = model.preparePatches(images, B);
const enc = noGrad(() => tidy(() => model.encodeImage(patches)));
const opts = { maxLen: 31, minLen: 30, beams: 1 };
const res: Record<string, number[]> = { [a!]: [], [b!]: [] };
const ROUNDS = Number(process.env.ROUNDS ?? 8);
for (let rep = 0; rep < ROUNDS; rep++) for (const v of rep % 2 ? [b!, a!] : [a!, b!]) {
  process.env[envName!] = v;
  const t0 = performance.now();
  await captionTokens(model, enc.tokens, opts);
  if (rep > 0) res[v]!.push((performance.now() - t0) / 30);
}
const ratios = res[b!]!.map((x, i) => x / res[a!]![i]!);
for (const [k, xs] of Object.entries(res)) { xs.sort((x, y) => x - y); console.log(`${envName}=${k}: median ${xs[xs.length >> 1]!.toFixed(2)} ms/token  [${xs.map((x) => x.toFixed(1)).join(' ')}]`); }
console.log(`${envName}=${b} / ${envName}=${a} per round: median ${quantile(ratios, 0.5).toFixed(3)} (quartiles ${quantile(ratios, 0.25).toFixed(3)}–${quantile(ratios, 0.75).toFixed(3)}, ${ratios.length} rounds)`);
