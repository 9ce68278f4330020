// src/interop/openclip.ts: what the thirteenth mutation pass found untold apart by the other
// interop tests — each refusal's text in full where only its start was checked, and how a hub
// config whose model_cfg is not an object is read. Expected values: JSON.parse's own message
// (computed here from the same text), RESIZE_MODES as coca documents them (shortest, longest,
// squash), and open_clip's reading of open_clip_config.json (model_cfg is the model config only
// when it is an object; factory.py).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InteropError } from '../../../src/interop/errors.ts';
import { cocaConfigOf, exportOpenClip, importOpenClip } from '../../../src/interop/openclip.ts';
import { writeCheckpointFolder } from '../../../src/model/checkpoint-folder.ts';
import { copy, FIXTURE, HUB, withVocab, writeSt, type T } from './interop-st.ts';

let tmp: string;
let n = 0;
const fresh = (name: string) => path.join(tmp, `${name}-${n++}`);
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-oc-edges-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function refusal(f: () => unknown): string {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(InteropError);
  return (err as Error).message;
}
function hubFolder(cfgText: string | null, tensors: Map<string, T> = FIXTURE): string {
  const dir = fresh('hub');
  fs.mkdirSync(dir);
  writeSt(path.join(dir, 'open_clip_model.safetensors'), tensors);
  if (cfgText !== null) fs.writeFileSync(path.join(dir, 'open_clip_config.json'), cfgText);
  return dir;
}
function parseMessage(text: string): string {
  try {
    JSON.parse(text);
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('the text parsed');
}

describe('openclip.ts: refusals in full', () => {
  it('a config that is not JSON: the parser’s whole first line, for --config and for the hub config beside', () => {
    const text = '{"model_cfg": {"embed_dim": 16,';
    const why = parseMessage(text);
    expect(why.length).toBeGreaterThan(1);
    expect(why).not.toContain('\n');
    const bad = path.join(tmp, 'cut.json');
    fs.writeFileSync(bad, text);
    expect(refusal(() => importOpenClip(hubFolder(null), fresh('o'), bad))).toBe(`${bad}: not readable JSON (${why}); pass an open_clip model config`);
    const hub = hubFolder(text);
    const beside = path.join(hub, 'open_clip_config.json');
    expect(refusal(() => importOpenClip(hub, fresh('o')))).toBe(`${beside}: not readable JSON (${why}); pass an open_clip model config`);
  });

  it('--config naming neither a file nor a known config: both known names listed', () => {
    const nope = path.join(tmp, 'nope.json');
    expect(refusal(() => importOpenClip(hubFolder(null), fresh('o'), nope))).toBe(`--config ${nope}: no such file, nor one of coca_ViT-B-32, coca_ViT-L-14`);
  });

  it('a resize mode coca lacks: every mode coca has, listed', () => {
    const oc = { model: structuredClone(HUB.model_cfg), preprocess: { resize_mode: 'stretch' }, where: 'w.json' };
    expect(refusal(() => cocaConfigOf(oc, []))).toBe('w.json: preprocess resize_mode "stretch" is not one coca has (shortest, longest, squash)');
  });

  it('a hub config whose model_cfg is not an object is a bare model config, and model_cfg then a key coca does not know', () => {
    // open_clip takes model_cfg only when it is a dict; here the file's own keys are a whole model
    // config, so the import fails on the stray key, not for a missing multimodal_cfg.
    const odd = path.join(tmp, 'odd.json');
    for (const value of ['coca', 1, true]) {
      fs.writeFileSync(odd, JSON.stringify({ ...HUB.model_cfg, model_cfg: value }));
      const msg = refusal(() => importOpenClip(hubFolder(null), fresh('o'), odd));
      expect(msg, String(value)).toMatch(new RegExp(`^${odd.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: model_cfg: unknown key \\(known: [^)]*\\) \\(coca runs open_clip's CoCa with a ViT image tower and its own text towers only\\)$`));
    }
    // model_cfg null or 0: not a hub config either, the same refusal of the stray key.
    fs.writeFileSync(odd, JSON.stringify({ ...HUB.model_cfg, model_cfg: null }));
    expect(refusal(() => importOpenClip(hubFolder(null), fresh('o'), odd))).toMatch(/: model_cfg: unknown key/);
  });
});

describe('openclip.ts: import', () => {
  it('a non-finite first element is refused as element 0', () => {
    const broken = copy(FIXTURE);
    broken.get('logit_scale')!.data[0] = NaN;
    const hub = hubFolder(JSON.stringify(HUB), broken);
    const o = fresh('o');
    expect(refusal(() => importOpenClip(hub, o))).toBe(`${path.join(hub, 'open_clip_model.safetensors')}: tensor "logit_scale" holds NaN (element 0); the weights are broken: download them again`);
    expect(fs.existsSync(o)).toBe(false);
  });

  it("CLIP's vocabulary (49,408): CLIP's tokenizer written beside, returned as 'clip', no note", () => {
    const cfg = { ...HUB, model_cfg: { ...HUB.model_cfg, text_cfg: { ...HUB.model_cfg['text_cfg'], vocab_size: 49408 }, multimodal_cfg: { ...HUB.model_cfg['multimodal_cfg'], vocab_size: 49408, mlp_ratio: 4 } } };
    const out = fresh('clip');
    const r = importOpenClip(hubFolder(JSON.stringify(cfg), withVocab(49408)), out);
    expect([r.tokenizer, r.notes]).toEqual(['clip', []]);
    expect(fs.readdirSync(out).sort()).toEqual(['.coca-output.json', 'config.json', 'manifest.json', 'model.safetensors', 'tokenizer.json']);
    // open_clip's SimpleTokenizer: 49,408 ids, <start_of_text> 49406 and <end_of_text> 49407.
    const tok = JSON.parse(fs.readFileSync(path.join(out, 'tokenizer.json'), 'utf8')) as { model: { vocab: Record<string, number> }; added_tokens: { id: number; content: string }[] };
    expect(Object.keys(tok.model.vocab)).toHaveLength(49408);
    expect(tok.added_tokens.map((a) => [a.content, a.id])).toEqual([['<start_of_text>', 49406], ['<end_of_text>', 49407]]);
    // Exported again: CLIP's tokenizer goes with it and, being CLIP's, needs no note.
    const exp = fresh('clip-exp');
    expect(exportOpenClip(out, exp).notes).toEqual([]);
    expect(JSON.parse(fs.readFileSync(path.join(exp, 'tokenizer.json'), 'utf8'))).toEqual(tok);
  });
});

describe('openclip.ts: export', () => {
  it("coca's own longest (pad with the background, then resize): the note names the background twice, as coca's padding and as the fill_color written", () => {
    const imp = fresh('imp');
    const cfg = importOpenClip(hubFolder(JSON.stringify(HUB)), imp).config as unknown as { vision_cfg: Record<string, unknown> };
    const own = fresh('own');
    writeCheckpointFolder(own, [
      { name: 'model.safetensors', tensors: new Map([...FIXTURE].map(([k, t]) => [k, { shape: t.shape, data: t.data }])) },
      { name: 'config.json', text: JSON.stringify({ ...cfg, vision_cfg: { ...cfg.vision_cfg, image_resize_mode: 'longest', image_background: [3, 4, 5] } }) },
    ]);
    const r = exportOpenClip(own, fresh('exp'));
    expect(r.notes).toEqual([
      'this model pads pictures with 3 4 5 and then resizes them (coca\'s "longest"); open_clip resizes first and then pads (fill_color 3 4 5 written), so there its inputs differ along the padded border',
    ]);
  });

  it("the output marker: one JSON line ending in a newline, as every coca output folder's (command, source, time)", () => {
    const own = fresh('own');
    importOpenClip(hubFolder(JSON.stringify(HUB)), own);
    const exp = fresh('exp');
    const before = Date.now();
    exportOpenClip(own, exp);
    const text = fs.readFileSync(path.join(exp, '.coca-output.json'), 'utf8');
    const m = JSON.parse(text) as { command: string; from: string; at: string };
    expect(Object.keys(m)).toEqual(['command', 'from', 'at']);
    expect([m.command, m.from]).toEqual(['coca export open_clip', path.resolve(own)]);
    expect(Date.parse(m.at)).toBeGreaterThanOrEqual(before - 1000);
    expect(Date.parse(m.at)).toBeLessThanOrEqual(Date.now() + 1000);
    expect(text).toBe(JSON.stringify(m) + '\n');
  });

  it.each([
    [[5, 5, 9], [5, 5, 9]],
    [[9, 5, 5], [9, 5, 5]],
    [[5, 9, 5], [5, 9, 5]],
    [[6, 6, 6], 6],
  ])('longest with fill_color %j round trip: written as %j (one int only when all three channels agree)', (fill, want) => {
    // open_clip's fill_color is an int for all three channels or an RGB list (transform.py); a list
    // whose channels differ anywhere must stay a list.
    const imp = fresh('imp');
    importOpenClip(hubFolder(JSON.stringify({ ...HUB, preprocess_cfg: { ...HUB.preprocess_cfg, resize_mode: 'longest', fill_color: fill } })), imp);
    const exp = fresh('exp');
    exportOpenClip(imp, exp);
    const written = JSON.parse(fs.readFileSync(path.join(exp, 'open_clip_config.json'), 'utf8')) as { preprocess_cfg: Record<string, unknown> };
    expect([written.preprocess_cfg['resize_mode'], written.preprocess_cfg['fill_color']]).toEqual(['longest', want]);
  });

  it('a tensor stored as F16 in the checkpoint is refused as not F32, naming it', () => {
    const dir = fresh('own');
    importOpenClip(hubFolder(JSON.stringify(HUB)), dir);
    // The same tensors, text.ln_final.bias as F16 (1.0 is 0x3c00), written by hand; no manifest,
    // so the folder loads unverified as one written before coca checked its checkpoints.
    const header: Record<string, unknown> = {};
    const chunks: Buffer[] = [];
    let at = 0;
    for (const [k, t] of FIXTURE) {
      const half = k === 'text.ln_final.bias';
      const bytes = half ? Buffer.from(new Uint16Array(t.data.length).fill(0x3c00).buffer) : Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
      header[k] = { dtype: half ? 'F16' : 'F32', shape: t.shape, data_offsets: [at, at + bytes.length] };
      at += bytes.length;
      chunks.push(bytes);
    }
    let json = JSON.stringify(header);
    while (json.length % 8) json += ' ';
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(json.length));
    const file = path.join(dir, 'model.safetensors');
    fs.writeFileSync(file, Buffer.concat([len, Buffer.from(json), ...chunks]));
    fs.rmSync(path.join(dir, 'manifest.json'));
    const o = fresh('exp');
    expect(refusal(() => exportOpenClip(dir, o))).toBe(`${file}: tensor "text.ln_final.bias" is missing or not F32; the checkpoint is damaged: use another one`);
    expect(fs.existsSync(o)).toBe(false);
  });
});

describe('openclip.ts: the output folder is not the input', () => {
  it('import and export refuse an --out inside their input, writing nothing', () => {
    const hub = hubFolder(JSON.stringify(HUB));
    const inside = path.join(hub, 'coca');
    expect(() => importOpenClip(hub, inside)).toThrow(`--out ${inside} lies inside this command's input ${hub}; write the output somewhere else`);
    expect(fs.existsSync(inside)).toBe(false);
    const own = fresh('own');
    importOpenClip(hub, own);
    const into = path.join(own, 'open_clip');
    expect(() => exportOpenClip(own, into)).toThrow(`--out ${into} lies inside this command's input ${own}; write the output somewhere else`);
    expect(fs.existsSync(into)).toBe(false);
  });
});
