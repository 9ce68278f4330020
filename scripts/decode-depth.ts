// Greedy decoding at batch B with the KV cache, ms per token at each pipeline depth (0: the CPU
// loop of search.ts, a read and a pick per step; 1: the device pick, one step at a time; 2 and more:
// that many steps recorded ahead), with the waiter's sleep and await per token. Three rounds.
//   npx tsx scripts/decode-depth.ts [preset] [batch]
import { Gpu } from '../src/gpu/gpu.ts';
import { CachedStepper } from '../src/infer/kvcache.ts';
import { greedyOnDevice } from '../src/infer/greedy-device.ts';
import { greedyOrSample } from '../src/infer/search.ts';
import { CocaModel } from '../src/model/coca.ts';
import { loadConfig } from '../src/model/config.ts';
import { noGrad } from '../src/tensor/tape.ts';
import { tidy } from '../src/tensor/tensor.ts';
const gpu = await Gpu.open();
const config = loadConfig(process.argv[2] ?? 'tiny');
const B = Number(process.argv[3] ?? 1);
const model = CocaModel.init(gpu, config, 1);
const S = config.vision_cfg.image_size;
const images = new Float32Array(B*3*S*S).map(()=>Math.random());
const patches = model.preparePatches(images, B);
const enc = noGrad(() => tidy(() => model.encodeImage(patches)));
const opts = { maxLen: 31, minLen: 30 };
for (let rep = 0; rep < 3; rep++) for (const depth of [0, 1, 2, 3, 4]) {
  const s = new CachedStepper(model, enc.tokens, { beams: 1, maxLen: 31 });
  gpu.waiter.slept = 0; gpu.waiter.awaited = 0;
  const t0 = performance.now();
  if (depth === 0) await greedyOrSample(s, 31, opts); else await greedyOnDevice(s, 31, opts, depth);
  const wall = performance.now() - t0;
  console.log(`depth ${depth}: ${(wall/30).toFixed(2)} ms/token  slept ${(gpu.waiter.slept/30).toFixed(2)} awaited ${(gpu.waiter.awaited/30).toFixed(2)}`);
  s.release();
}
