// src/interop/openclip.ts: a checkpoint with no config beside it and no --config is imported as
// whichever of open_clip's known CoCa configs its tensors fit. A real coca_ViT-B-32 or -L-14 state
// dict is a gigabyte or more, so here the model's tensor list (parameterShapes) is stood in for:
// for the config whose embed_dim is `state.fit`, it is open_clip's small fixture's tensor list
// (read by the test's own reader); for every other config, the real one, which the fixture does not
// fit. What is checked is the choice: the L-14 config (open_clip's coca_ViT-L-14.json: embed_dim
// 768, CLIP's 49,408-token vocabulary) taken when its list fits, none when none does.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { importOpenClip } from '../../../src/interop/openclip.ts';
import { FIXTURE, writeSt } from './interop-st.ts';

const state = vi.hoisted(() => ({ fit: 0 }));
vi.mock('../../../src/model/shapes.ts', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../../src/model/shapes.ts')>();
  const { FIXTURE: fx } = await import('./interop-st.ts');
  return {
    ...real,
    parameterShapes: (c: Parameters<typeof real.parameterShapes>[0]) =>
      c.embed_dim === state.fit ? [...fx].map(([name, t]) => ({ name, shape: [...t.shape] }) as unknown as ReturnType<typeof real.parameterShapes>[number]) : real.parameterShapes(c),
  };
});

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-oc-fit-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('import without a config: the known config the tensors fit', () => {
  it('fits coca_ViT-L-14 only: imported as it, named so; fits none: refused', () => {
    const file = path.join(tmp, 'weights.safetensors');
    writeSt(file, FIXTURE);
    state.fit = 768;
    const r = importOpenClip(file, path.join(tmp, 'l14'));
    expect([r.configFrom, r.config.embed_dim, r.config.text_cfg.vocab_size, r.tokenizer, r.tensors, r.notes]).toEqual(['coca_ViT-L-14', 768, 49408, 'clip', FIXTURE.size, []]);
    state.fit = 1;
    expect(() => importOpenClip(file, path.join(tmp, 'none'))).toThrow(`${file} fits none of coca_ViT-B-32, coca_ViT-L-14 and has no open_clip_config.json beside it; pass the model config it was trained with as --config file.json`);
  });
});
