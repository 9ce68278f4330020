// coca's beam search against open_clip's own: test/fixtures/openclip-beam/ holds a CoCa built by
// open_clip's coca_model.py with random weights and the tokens its generate() chose for six
// pictures (scripts/reference/openclip_beam.py make; generate hands beam search to Hugging Face
// transformers' GenerationMixin, v5.12.1), with open_clip's default settings and with a narrower
// beam, a longer minimum and a repetition penalty. Imported from both files open_clip writes, coca
// must choose the same tokens with the settings mapped as the README's open_clip section says.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { captionImages } from '../../src/infer/caption.ts';
import { importOpenClip } from '../../src/interop/openclip.ts';
import { loadCheckpoint } from '../../src/model/checkpoint.ts';
import { readSafetensors } from '../../src/model/safetensors.ts';
import { testGpu } from '../helpers/gpu.ts';

const FX = path.join(import.meta.dirname, '..', 'fixtures', 'openclip-beam');
let gpu: Gpu;
let tmp: string;
beforeAll(async () => {
  gpu = await testGpu();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-openclip-beam-'));
});
afterAll(() => {
  gpu?.pool.trim();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const ref = readSafetensors(path.join(FX, 'beams.safetensors'));
const sot = Number(ref.metadata.sot);
const eot = Number(ref.metadata.eot);
const settings = JSON.parse(ref.metadata.settings!) as Record<string, { num_beams?: number; seq_len?: number; min_seq_len?: number; repetition_penalty?: number }>;
const images = ref.tensors.get('input.images')!;
const B = images.shape[0]!;

/** open_clip's generate arguments (its defaults filled in) as coca's search options. */
function cocaSearch(s: (typeof settings)[string]) {
  return {
    beams: s.num_beams ?? 6,
    // seq_len and min_seq_len count [SOT], as maxLen does; minLen counts generated tokens only.
    maxLen: s.seq_len ?? 30,
    minLen: (s.min_seq_len ?? 5) - 1,
    repetitionPenalty: s.repetition_penalty ?? 1,
    lengthPenalty: 1, // transformers' length_penalty default
    sot,
    eot,
    pad: -1, // generate never forbids the pad id (CLIP's 0 is "!")
    sotAllowed: true, // nor [SOT]: in this fixture a beam through [SOT] changes picture 4's caption
  };
}

function wanted(name: string): number[][] {
  const t = ref.tensors.get(`beam.${name}`)!;
  const L = t.shape[1]!;
  const d = t.data as Int32Array;
  return Array.from({ length: B }, (_, b) => Array.from(d.slice(b * L, (b + 1) * L)).filter((x) => x >= 0));
}

describe.each(['open_clip_model.safetensors', 'open_clip_pytorch_model.bin'])('open_clip CoCa imported from %s', (file) => {
  it("beam-searches the tokens open_clip's generate chooses", async () => {
    const out = path.join(tmp, file);
    importOpenClip(path.join(FX, file), out);
    const model = loadCheckpoint(gpu, out);
    const got: Record<string, number[][]> = {};
    const want: Record<string, number[][]> = {};
    try {
      for (const name of Object.keys(settings)) {
        const caps = await captionImages(model, images.data as Float32Array, B, cocaSearch(settings[name]!));
        got[name] = caps.map((c) => c.tokens);
        want[name] = wanted(name);
      }
    } finally {
      model.params.release();
    }
    // Not vacuous: the fixture has captions cut at the maximum length and ended by [EOT] at
    // different lengths, and the narrow setting differs from the default.
    const lengths = new Set(Object.values(want).flat().map((r) => `${r.length}${r.at(-1) === eot ? 'e' : ''}`));
    expect(lengths.size).toBeGreaterThanOrEqual(4);
    expect(want['narrow']).not.toEqual(want['default']);
    expect(got).toEqual(want);
  });
});
