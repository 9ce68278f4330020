// `coca bench openclip-beam`'s family on an imported open_clip CoCa (the beam-parity fixture, with
// a tokenizer naming its [SOT] and [EOT] as CLIP does): it captions with open_clip's default beam
// search and, without CPU references, says the open_clip column was skipped; a folder that is not
// a checkpoint is one line. (Run directly, without the CLI's ceiling measurements.)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { openclipBeamBench } from '../../src/bench/openclip-beam.ts';
import { importOpenClip } from '../../src/interop/openclip.ts';
import { writeCheckpointFolder } from '../../src/model/checkpoint-folder.ts';
import { readSafetensors } from '../../src/model/safetensors.ts';
import { BenchInputError, type BenchContext } from '../../kernels/bench/harness.ts';
import { testGpu } from '../helpers/gpu.ts';

let gpu: Gpu;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-bench-beam-test-'));
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => {
  gpu?.pool.trim();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const context = (sizes: string): BenchContext => ({ gpu, ceilings: { gflops: 1, gbps: 1, copyBufferGbps: 1 }, runs: 1, seed: 0, sizes, variant: 'all', layout: 'NN', blas: false });

describe('coca bench openclip-beam', () => {
  it('a folder that is not a checkpoint is one line', async () => {
    await expect(openclipBeamBench.run(context(tmp))).rejects.toThrow(new BenchInputError(`--sizes ${tmp}: not a checkpoint folder; give one written by coca import open_clip`));
  });

  it("captions with open_clip's defaults and reports what it measured", async () => {
    const imported = path.join(tmp, 'imported');
    importOpenClip(path.join(import.meta.dirname, '..', 'fixtures', 'openclip-beam', 'open_clip_model.safetensors'), imported);
    const vocab = Object.fromEntries(Array.from({ length: 64 }, (_, i) => [i === 62 ? '<start_of_text>' : i === 63 ? '<end_of_text>' : `w${i}`, i]));
    const added = [62, 63].map((id) => ({ id, content: id === 62 ? '<start_of_text>' : '<end_of_text>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }));
    const tokenizer = { version: '1.0', truncation: null, padding: null, added_tokens: added, normalizer: null, pre_tokenizer: { type: 'Whitespace' }, post_processor: null, decoder: null, model: { type: 'BPE', vocab, merges: [], unk_token: 'w0' } };
    const ck = path.join(tmp, 'ck');
    writeCheckpointFolder(ck, [
      { name: 'config.json', text: fs.readFileSync(path.join(imported, 'config.json'), 'utf8') },
      { name: 'model.safetensors', tensors: readSafetensors(path.join(imported, 'model.safetensors')).tensors },
      { name: 'tokenizer.json', text: JSON.stringify(tokenizer) },
    ]);
    const out = await openclipBeamBench.run(context(ck));
    expect(out.failed).toBe(0);
    const report = out.report as { search: unknown; coca: { seconds: number; tokens: number[] }; open_clip: unknown; same_tokens: unknown; note: string };
    expect(report.search).toEqual({ beams: 6, maxLen: 30, minLen: 4, lengthPenalty: 1, repetitionPenalty: 1, sotAllowed: true });
    expect(report.note).toBe('open_clip column skipped (--no-blas)');
    expect(report.open_clip).toBeNull();
    expect(report.same_tokens).toBeNull();
    // [SOT] first, then at least min-len + 1 tokens (four words and [EOT]) or the full length.
    expect(report.coca.tokens[0]).toBe(62);
    expect(report.coca.tokens.length).toBeGreaterThanOrEqual(6);
    expect(report.coca.seconds).toBeGreaterThan(0);
  });
});
