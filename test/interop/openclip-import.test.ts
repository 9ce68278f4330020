// open_clip's CoCa imported from each file format open_clip writes, against open_clip's own
// outputs: test/fixtures/openclip/ holds a CoCa built by open_clip's coca_model.py with random
// weights (scripts/reference/openclip_interop.py make), saved as open_clip_model.safetensors,
// open_clip_pytorch_model.bin (torch.save of the state dict) and epoch_1.pt (open_clip's training
// checkpoint with DDP prefixes and AdamW state), and the image and text embeddings, caption
// logits and greedy tokens open_clip computed (its default, legacy text mask). Bad input (another
// architecture, a truncated file, a pickle asking to run code) fails in one line writing nothing.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { captionImages } from '../../src/infer/caption.ts';
import { importOpenClip } from '../../src/interop/openclip.ts';
import { loadCheckpoint } from '../../src/model/checkpoint.ts';
import { CocaModel } from '../../src/model/coca.ts';
import { readSafetensors } from '../../src/model/safetensors.ts';
import { noGrad } from '../../src/tensor/tape.ts';
import { compareClose, describeReport } from '../../src/util/allclose.ts';
import { testGpu } from '../helpers/gpu.ts';

const FX = path.join(import.meta.dirname, '..', 'fixtures', 'openclip');
let gpu: Gpu;
let tmp: string;
beforeAll(async () => {
  gpu = await testGpu();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-openclip-'));
});
afterAll(() => {
  gpu?.pool.trim();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const ref = readSafetensors(path.join(FX, 'outputs.safetensors'));
const get = (name: string) => {
  const t = ref.tensors.get(name);
  if (!t) throw new Error(`fixture has no ${name}`);
  return t;
};
const meta = { sot: Number(ref.metadata.sot), eot: Number(ref.metadata.eot), pad: Number(ref.metadata.pad) };

function normalise(x: Float32Array, rows: number): Float32Array {
  const d = x.length / rows;
  const out = new Float32Array(x.length);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let i = 0; i < d; i++) s += x[r * d + i]! ** 2;
    const n = Math.sqrt(s);
    for (let i = 0; i < d; i++) out[r * d + i] = x[r * d + i]! / n;
  }
  return out;
}

// float32 on the GPU against open_clip's float32 on the CPU: both round, neither is exact.
const TOL = { atol: 2e-5, rtol: 1e-4 };

describe.each(['open_clip_model.safetensors', 'open_clip_pytorch_model.bin', 'epoch_1.pt'])('open_clip CoCa imported from %s', (file) => {
  it("computes open_clip's embeddings, logits and greedy tokens", async () => {
    const out = path.join(tmp, file);
    const r = importOpenClip(path.join(FX, file), out);
    expect(r.tensors).toBe(79);
    expect(r.config.text_cfg.correct_cls_mask).toBe(false);
    const model = loadCheckpoint(gpu, out);
    const images = get('input.images');
    const text = Int32Array.from(get('input.text').data as Int32Array);
    const B = images.shape[0]!;
    // Not vacuous: the rows differ in padding, so the legacy mask matters to the text embedding.
    expect(new Set(Array.from({ length: B }, (_, b) => text.slice(b * 7, b * 7 + 7).filter((t) => t === 0).length)).size).toBe(3);
    const inp = model.prepare({ images: images.data as Float32Array, text, batch: B });
    const o = noGrad(() => model.forward(inp));
    const failures: string[] = [];
    const check = (what: string, got: Float32Array, want: Float32Array) => {
      const c = compareClose(got, want, TOL);
      if (!c.ok || got.length !== want.length) failures.push(`${what}: ${describeReport(c)}`);
    };
    check('image_features', normalise(await o.imageEmbedding.toArray(), B), get('out.image_features').data as Float32Array);
    check('text_features', normalise(await o.textEmbedding.toArray(), B), get('out.text_features').data as Float32Array);
    check('logits', await o.logits.toArray(), get('out.logits').data as Float32Array);
    for (const t of Object.values(o)) t.release();
    inp.release();
    if (file.endsWith('.safetensors')) {
      // The import's legacy text mask is what makes the text embeddings agree: the correct mask misses them.
      const fixed = new CocaModel(gpu, { ...model.config, text_cfg: { ...model.config.text_cfg, correct_cls_mask: true } }, model.params);
      const prep = fixed.prepareText(text, B);
      const t = noGrad(() => fixed.encodeText(prep));
      expect(compareClose(normalise(await t.embedding.toArray(), B), get('out.text_features').data as Float32Array, TOL).ok).toBe(false);
      t.embedding.release();
      t.tokens.release();
      prep.release();
    }
    const want = get('out.greedy_tokens');
    const L = want.shape[1]!;
    const caps = await captionImages(model, images.data as Float32Array, B, { beams: 1, maxLen: L, ...meta });
    // open_clip's rows run to the full length, [EOT] repeated after the end; coca's stop at [EOT].
    const rows = caps.map((c) => [...c.tokens, ...new Array<number>(L - c.tokens.length).fill(meta.eot)]);
    model.params.release();
    expect(failures).toEqual([]);
    expect(rows.flat()).toEqual(Array.from(want.data as Int32Array));
  });
});
