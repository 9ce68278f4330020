// src/interop/openclip.ts with CLIP's vocabulary (49,408 tokens, <start_of_text> 49406 and
// <end_of_text> 49407 as open_clip's SimpleTokenizer numbers them): the import writes CLIP's
// tokenizer beside the model and the export carries it, with no note. Its own file: the model's two
// 49,408-row tensors and CLIP's tokenizer make it tens of seconds on a loaded machine, too slow to
// rerun against each mutant (docs/mutation.md, twelfth pass: its kills checked by hand).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportOpenClip, importOpenClip } from '../../../src/interop/openclip.ts';
import { HUB, writeSt, withVocab, type T } from './interop-st.ts';

const OWN_MARKER = '.coca-output.json';
let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-oc-clip-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function hubFolder(tensors: Map<string, T>, cfg: object): string {
  const dir = path.join(tmp, 'hub');
  fs.mkdirSync(dir);
  writeSt(path.join(dir, 'open_clip_model.safetensors'), tensors);
  fs.writeFileSync(path.join(dir, 'open_clip_config.json'), JSON.stringify(cfg));
  return dir;
}

describe("an open_clip CoCa with CLIP's vocabulary", () => {
  it("CLIP's tokenizer written beside on import, carried on export, no note either way", () => {
    const out = path.join(tmp, 'clip');
    const r = importOpenClip(hubFolder(withVocab(49408), { ...HUB, model_cfg: { ...HUB.model_cfg, text_cfg: { ...HUB.model_cfg['text_cfg'], vocab_size: 49408 }, multimodal_cfg: { ...HUB.model_cfg['multimodal_cfg'], vocab_size: 49408, mlp_ratio: 4 } } }), out);
    expect([r.tokenizer, r.notes]).toEqual(['clip', []]);
    const tok = JSON.parse(fs.readFileSync(path.join(out, 'tokenizer.json'), 'utf8')) as { model: { vocab: Record<string, number> }; added_tokens: { id: number; content: string }[] };
    expect(Object.keys(tok.model.vocab)).toHaveLength(49408);
    expect(tok.added_tokens.map((a) => [a.content, a.id])).toEqual([['<start_of_text>', 49406], ['<end_of_text>', 49407]]);
    // Exported again: the tokenizer goes with it, and it is CLIP's, so no note about it.
    const exp = path.join(tmp, 'clip-exp');
    const e = exportOpenClip(out, exp);
    expect(e.notes).toEqual([]);
    expect(fs.readdirSync(exp).sort()).toEqual([OWN_MARKER, 'manifest.json', 'open_clip_config.json', 'open_clip_model.safetensors', 'tokenizer.json']);
    expect(JSON.parse(fs.readFileSync(path.join(exp, 'tokenizer.json'), 'utf8'))).toEqual(tok);
  });
});
