// coca's beam search on an imported open_clip checkpoint against open_clip's own generate, for
// models too big to commit (the full coca_ViT-B-32 shapes): BEAMS is what
//   openclip_beam.py generate OC/src/open_clip MODEL_DIR BEAMS
// wrote for MODEL_DIR, and CHECKPOINT what `coca import open_clip MODEL_DIR/<file>` made of it. Each
// setting is mapped to coca's options as test/interop/openclip-beam.test.ts maps them (the README's
// open_clip section). Prints, per setting, whether every picture's tokens agree, and both, as JSON.
//   npx tsx scripts/reference/openclip_beam_check.ts CHECKPOINT BEAMS
import { getGpu } from '../../src/gpu/gpu.ts';
import { captionImages } from '../../src/infer/caption.ts';
import { loadCheckpoint } from '../../src/model/checkpoint.ts';
import { readSafetensors } from '../../src/model/safetensors.ts';

const [ck, beams] = process.argv.slice(2);
if (!ck || !beams) throw new Error('usage: openclip_beam_check.ts CHECKPOINT BEAMS');
const ref = readSafetensors(beams);
const sot = Number(ref.metadata.sot);
const eot = Number(ref.metadata.eot);
const settings = JSON.parse(ref.metadata.settings!) as Record<string, { num_beams?: number; seq_len?: number; min_seq_len?: number; repetition_penalty?: number }>;
const images = ref.tensors.get('input.images')!;
const B = images.shape[0]!;
const model = loadCheckpoint(await getGpu(), ck);
const out: Record<string, unknown> = {};
for (const [name, s] of Object.entries(settings)) {
  const t0 = performance.now();
  const caps = await captionImages(model, images.data as Float32Array, B, {
    beams: s.num_beams ?? 6,
    maxLen: s.seq_len ?? 30,
    minLen: (s.min_seq_len ?? 5) - 1,
    repetitionPenalty: s.repetition_penalty ?? 1,
    lengthPenalty: 1,
    sot,
    eot,
    pad: -1,
    sotAllowed: true,
  });
  const want = ref.tensors.get(`beam.${name}`)!;
  const L = want.shape[1]!;
  const openClip = Array.from({ length: B }, (_, b) => Array.from((want.data as Int32Array).slice(b * L, (b + 1) * L)).filter((x) => x >= 0));
  const coca = caps.map((c) => c.tokens);
  out[name] = { tokens_equal: JSON.stringify(coca) === JSON.stringify(openClip), seconds: Math.round(performance.now() - t0) / 1000, coca, open_clip: openClip };
}
console.log(JSON.stringify({ transformers: ref.metadata.transformers, settings, ...out }));
process.exit(0);
