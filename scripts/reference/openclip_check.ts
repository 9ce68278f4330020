// coca's outputs on an imported open_clip checkpoint against open_clip's own, for models too big
// to commit (the full coca_ViT-B-32 shapes): FIXTURE is a folder written by
//   openclip_interop.py make OC/src/open_clip FIXTURE --config coca_ViT-B-32 --batch 1 --max-len 8
// and CHECKPOINT what `coca import open_clip FIXTURE/<file>` made of it. Prints the largest
// differences (image/text features normalised, logits) and whether the greedy tokens agree, as JSON.
//   npx tsx scripts/reference/openclip_check.ts CHECKPOINT FIXTURE
import path from 'node:path';
import { getGpu } from '../../src/gpu/gpu.ts';
import { captionImages } from '../../src/infer/caption.ts';
import { loadCheckpoint } from '../../src/model/checkpoint.ts';
import { readSafetensors } from '../../src/model/safetensors.ts';
import { noGrad } from '../../src/tensor/tape.ts';

const [ck, fixture] = process.argv.slice(2);
if (!ck || !fixture) throw new Error('usage: openclip_check.ts CHECKPOINT FIXTURE');
const ref = readSafetensors(path.join(fixture, 'outputs.safetensors'));
const get = (n: string) => ref.tensors.get(n)!;
const gpu = await getGpu();
const model = loadCheckpoint(gpu, ck);
const images = get('input.images');
const text = Int32Array.from(get('input.text').data as Int32Array);
const B = images.shape[0]!;
const norm = (x: Float32Array) => {
  const d = x.length / B;
  const out = new Float32Array(x.length);
  for (let r = 0; r < B; r++) {
    const n = Math.hypot(...x.subarray(r * d, (r + 1) * d));
    for (let i = 0; i < d; i++) out[r * d + i] = x[r * d + i]! / n;
  }
  return out;
};
const diff = (a: Float32Array, b: ArrayLike<number>) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);
const scale = (b: ArrayLike<number>) => Array.from(b).reduce((m, v) => Math.max(m, Math.abs(v)), 0);
const inp = model.prepare({ images: images.data as Float32Array, text, batch: B });
const o = noGrad(() => model.forward(inp));
const logits = await o.logits.toArray();
const result = {
  image_features: diff(norm(await o.imageEmbedding.toArray()), get('out.image_features').data as Float32Array),
  text_features: diff(norm(await o.textEmbedding.toArray()), get('out.text_features').data as Float32Array),
  logits: diff(logits, get('out.logits').data as Float32Array),
  logits_largest: scale(get('out.logits').data as Float32Array),
};
const want = get('out.greedy_tokens');
const L = want.shape[1]!;
const meta = { sot: Number(ref.metadata.sot), eot: Number(ref.metadata.eot), pad: Number(ref.metadata.pad) };
const caps = await captionImages(model, images.data as Float32Array, B, { beams: 1, maxLen: L, ...meta });
const rows = caps.map((c) => [...c.tokens, ...new Array<number>(L - c.tokens.length).fill(meta.eot)]);
console.log(JSON.stringify({ ...result, greedy_tokens_equal: JSON.stringify(rows.flat()) === JSON.stringify(Array.from(want.data as Int32Array)), coca: rows, open_clip: Array.from(want.data as Int32Array) }));
process.exit(0);
