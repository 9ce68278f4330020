// `coca export web` stores the weights in half precision by default: the site's model.safetensors
// is half the float32 one, and the model the page loads from it (widened back to float32 by the
// loader both hosts share, checkpoint-params.ts) captions the test pictures — those of the site's
// browser tests — with the same words as the checkpoint it came from, greedy and beam search.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fullCrop, toTensor } from '../../src/data/augment.ts';
import { decodePicture } from '../../src/data/image.ts';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { captionImages } from '../../src/infer/caption.ts';
import { loadCheckpoint, readCheckpointTokenizer } from '../../src/model/checkpoint.ts';
import { preprocessOf } from '../../src/model/config.ts';
import { readSafetensors } from '../../src/model/safetensors.ts';
import { exportWeb } from '../../src/web/export.node.ts';
import { testGpu } from '../helpers/gpu.ts';
import { makeCheckpoint, makePictures } from './fixture.ts';

let gpu: Gpu;
let dir: string;

/** Every picture's caption by the model in `ck`, greedy and with 3 beams: token ids and log-probabilities. */
async function captions(ck: string, pictures: string[]): Promise<{ tokens: number[]; logprobs: number[] }[]> {
  const model = loadCheckpoint(gpu, ck);
  try {
    const tok = readCheckpointTokenizer(ck, model.config)!;
    const pre = preprocessOf(model.config)!;
    const out = [];
    for (const file of pictures) {
      const img = await decodePicture({ path: file }, pre, false);
      const images = new Float32Array(3 * pre.size * pre.size);
      toTensor(img, fullCrop(img), pre.size, pre.mean, pre.std, images);
      for (const beams of [1, 3]) {
        const [c] = await captionImages(model, images, 1, { beams, maxLen: model.config.text_cfg.context_length, ...tok.searchIds() });
        out.push({ tokens: c!.tokens, logprobs: c!.logprobs });
      }
    }
    return out;
  } finally {
    model.params.release();
  }
}

describe('coca export web, half-precision weights', () => {
  beforeAll(async () => {
    gpu = await testGpu();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-half-'));
    await makeCheckpoint(gpu, path.join(dir, 'ck'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('halves the weights and leaves the test pictures’ captions as they were', async () => {
    const half = await exportWeb(path.join(dir, 'ck'), path.join(dir, 'site'));
    const full = await exportWeb(path.join(dir, 'ck'), path.join(dir, 'site32'), undefined, 'f32');
    const st = readSafetensors(path.join(dir, 'site', 'model', 'model.safetensors'));
    expect(half.tensors).toEqual({ f16: st.tensors.size, f32: 0 });
    expect([...st.tensors.values()].every((t) => t.dtype === 'F16')).toBe(true);
    expect(full.tensors).toBeNull();
    const bytes = (site: string) => fs.statSync(path.join(dir, site, 'model', 'model.safetensors')).size;
    // Halves of the float32 bytes, plus a header that does not shrink (a few KiB of names and shapes).
    expect(bytes('site')).toBeLessThan(bytes('site32') / 2 + 8192);
    expect(bytes('site32')).toBe(fs.statSync(path.join(dir, 'ck', 'model.safetensors')).size);
    expect(half.model).toBeLessThan(full.model);

    const pics = await makePictures(path.join(dir, 'pics'));
    const files = [pics.red, pics.blue, pics.wide, pics.svg];
    const want = await captions(path.join(dir, 'ck'), files);
    const got = await captions(path.join(dir, 'site', 'model'), files);
    expect(got.map((c) => c.tokens)).toEqual(want.map((c) => c.tokens));
    // And the model is the same one, rounded: each word's log-probability moved by little
    // (measured 1.9e-3 with half precision's 2^-11 relative rounding of every weight); a tensor
    // stored wrongly (transposed, another's bytes, bits misread) moves them by whole units.
    const worst = Math.max(...got.flatMap((c, i) => c.logprobs.map((lp, k) => Math.abs(lp - want[i]!.logprobs[k]!))));
    console.log(`f16 site: model.safetensors ${bytes('site')} bytes against ${bytes('site32')}; captions equal, log-probabilities within ${worst.toExponential(1)}`);
    expect(worst).toBeLessThan(0.05);
  });
});
