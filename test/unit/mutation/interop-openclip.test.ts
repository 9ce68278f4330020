// src/interop/openclip.ts: what an import writes and returns, what an export writes, and each
// refusal and note, word for word. Inputs are open_clip's fixture (test/fixtures/openclip/, made by
// open_clip itself: scripts/reference/openclip_interop.py) and variants of it written here with a
// safetensors writer of the test's own (header JSON + little-endian float32), so no expected value
// comes from coca's reading or writing of the files; open_clip's rules quoted are from its
// factory.py / transform.py / coca_model.py (e.g. preprocess_cfg's keys, fill_color, the decoder
// built with mlp_ratio 4, the CLIP vocabulary of 49,408 with <start_of_text> 49406).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InteropError } from '../../../src/interop/errors.ts';
import { cocaConfigOf, exportOpenClip, importOpenClip, openClipModelConfig } from '../../../src/interop/openclip.ts';
import { writeCheckpointFolder } from '../../../src/model/checkpoint-folder.ts';
import { COCA, handJson } from './hand-tokenizer.ts';

import { CLIP_MEAN, CLIP_STD, copy, FIXTURE, FX, HUB, readSt, writeSt, withVocab, type T } from './interop-st.ts';

let tmp: string;
let n = 0;
const fresh = (name: string) => path.join(tmp, `${name}-${n++}`);
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-oc-mut-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A folder as a hub download makes it: the checkpoint under `name` and, unless null, open_clip_config.json. */
function hubFolder(tensors: Map<string, T>, cfg: object | null = HUB, name = 'open_clip_model.safetensors'): string {
  const dir = fresh('hub');
  fs.mkdirSync(dir);
  writeSt(path.join(dir, name), tensors);
  if (cfg) fs.writeFileSync(path.join(dir, 'open_clip_config.json'), JSON.stringify(cfg));
  return dir;
}
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
const OWN_MARKER = '.coca-output.json';

describe('import: what is written and returned', () => {
  it("a hub folder: the config from open_clip_config.json, open_clip's preprocessing, tensors as they are, the notes in order", () => {
    const hub = hubFolder(FIXTURE);
    const out = fresh('imp');
    const before = Date.now();
    const r = importOpenClip(hub, out);
    const file = path.join(hub, 'open_clip_model.safetensors');
    const count = [...FIXTURE.values()].reduce((a, t) => a + t.data.length, 0);
    expect([r.file, r.configFrom, r.tensors, r.params, r.dtypes, r.tokenizer]).toEqual([file, path.join(hub, 'open_clip_config.json'), 79, count, ['F32'], null]);
    expect(r.notes).toEqual([
      `${path.join(hub, 'open_clip_config.json')} says multimodal_cfg.mlp_ratio 2, which open_clip ignores (its decoder's MLPs are always 4× wide); imported as 4`,
      "its vocabulary (23 tokens) is not CLIP's, so no tokenizer.json was written: add the one it was trained with",
    ]);
    const v = r.config.vision_cfg;
    expect([v.image_mean, v.image_std, v.image_interpolation, v.image_resize_mode, v.image_alpha, v.image_pad_after_resize]).toEqual([CLIP_MEAN, CLIP_STD, 'bicubic', 'shortest', 'drop', undefined]);
    expect([r.config.text_cfg.correct_cls_mask, r.config.multimodal_cfg.mlp_ratio, r.config.text_cfg.vocab_size, r.config.embed_dim]).toEqual([false, 4, 23, 16]);
    expect(fs.readdirSync(out).sort()).toEqual([OWN_MARKER, 'config.json', 'manifest.json', 'model.safetensors']);
    const cfgText = fs.readFileSync(path.join(out, 'config.json'), 'utf8');
    expect(cfgText).toBe(JSON.stringify(r.config, null, 2) + '\n');
    const st = readSt(path.join(out, 'model.safetensors'));
    expect(st.meta).toEqual({ format: 'coca-1', config: JSON.stringify(r.config), source: 'open_clip open_clip_model.safetensors' });
    expect([...st.tensors.keys()].sort()).toEqual([...FIXTURE.keys()].sort());
    for (const [k, t] of FIXTURE) {
      expect(st.tensors.get(k)!.shape, k).toEqual(t.shape);
      expect(Buffer.from(st.tensors.get(k)!.data.buffer).equals(Buffer.from(t.data.buffer)), k).toBe(true);
    }
    const marker = JSON.parse(fs.readFileSync(path.join(out, OWN_MARKER), 'utf8')) as { command: string; from: string; at: string };
    expect([marker.command, marker.from]).toEqual(['coca import open_clip', path.resolve(file)]);
    expect(Date.parse(marker.at)).toBeGreaterThanOrEqual(before - 1000);
    expect(Date.parse(marker.at)).toBeLessThanOrEqual(Date.now() + 1000);
    expect(fs.readFileSync(path.join(out, OWN_MARKER), 'utf8').endsWith('}\n')).toBe(true);
  });

  it('logit_scale clamped to [0, ln 100] as coca trains it; a non-finite element refused naming the tensor and its place', () => {
    const hi = copy(FIXTURE);
    hi.get('logit_scale')!.data[0] = 5;
    let out = fresh('hi');
    importOpenClip(hubFolder(hi), out);
    expect(readSt(path.join(out, 'model.safetensors')).tensors.get('logit_scale')!.data[0]).toBe(Math.fround(Math.log(100)));
    const lo = copy(FIXTURE);
    lo.get('logit_scale')!.data[0] = -1;
    out = fresh('lo');
    importOpenClip(hubFolder(lo), out);
    expect(readSt(path.join(out, 'model.safetensors')).tensors.get('logit_scale')!.data[0]).toBe(0);
    for (const [bad, word] of [[Infinity, 'Infinity'], [NaN, 'NaN'], [-Infinity, '-Infinity']] as const) {
      const broken = copy(FIXTURE);
      broken.get('text.token_embedding.weight')!.data[3] = bad;
      const hub = hubFolder(broken);
      const o = fresh('broken');
      expect(refusal(() => importOpenClip(hub, o))).toBe(`${path.join(hub, 'open_clip_model.safetensors')}: tensor "text.token_embedding.weight" holds ${word} (element 3); the weights are broken: download them again`);
      expect(fs.existsSync(o)).toBe(false);
    }
  });
});

describe('import: where the checkpoint and its config come from', () => {
  it('a folder holding both hub names takes the safetensors; one holding a single other .bin/.pt takes it; two such files are refused', () => {
    const both = hubFolder(FIXTURE);
    fs.copyFileSync(path.join(FX, 'open_clip_pytorch_model.bin'), path.join(both, 'open_clip_pytorch_model.bin'));
    expect(importOpenClip(both, fresh('o')).file).toBe(path.join(both, 'open_clip_model.safetensors'));
    const bin = fresh('bin');
    fs.mkdirSync(bin);
    fs.copyFileSync(path.join(FX, 'open_clip_pytorch_model.bin'), path.join(bin, 'open_clip_pytorch_model.bin'));
    fs.copyFileSync(path.join(FX, 'epoch_1.pt'), path.join(bin, 'epoch_1.pt'));
    fs.writeFileSync(path.join(bin, 'open_clip_config.json'), JSON.stringify(HUB));
    expect(importOpenClip(bin, fresh('o')).file).toBe(path.join(bin, 'open_clip_pytorch_model.bin'));
    const single = fresh('single');
    fs.mkdirSync(single);
    fs.copyFileSync(path.join(FX, 'epoch_1.pt'), path.join(single, 'epoch_1.pt'));
    fs.writeFileSync(path.join(single, 'epoch_1.pth'), 'not a candidate');
    fs.writeFileSync(path.join(single, 'weights.bin.txt'), 'nor this');
    fs.writeFileSync(path.join(single, 'open_clip_config.json'), JSON.stringify(HUB));
    expect(importOpenClip(single, fresh('o')).file).toBe(path.join(single, 'epoch_1.pt'));
    const two = fresh('two');
    fs.mkdirSync(two);
    fs.copyFileSync(path.join(FX, 'epoch_1.pt'), path.join(two, 'a.pt'));
    writeSt(path.join(two, 'b.safetensors'), FIXTURE);
    expect(refusal(() => importOpenClip(two, fresh('o')))).toBe(`${two} holds no open_clip_model.safetensors or open_clip_pytorch_model.bin (nor a single .safetensors/.bin/.pt file); pass the checkpoint file itself`);
  });

  it('a file takes the open_clip_config.json beside it; without one, the fit over known configs speaks', () => {
    const hub = hubFolder(FIXTURE, { ...HUB, preprocess_cfg: { ...HUB.preprocess_cfg, resize_mode: 'longest', fill_color: [1, 2, 3] } });
    const r = importOpenClip(path.join(hub, 'open_clip_model.safetensors'), fresh('o'));
    expect([r.configFrom, r.config.vision_cfg.image_resize_mode, r.config.vision_cfg.image_pad_after_resize]).toEqual([path.join(hub, 'open_clip_config.json'), 'longest', [1, 2, 3]]);
    const lone = hubFolder(FIXTURE, null, 'weights.safetensors');
    const file = path.join(lone, 'weights.safetensors');
    expect(refusal(() => importOpenClip(file, fresh('o')))).toBe(`${file} fits none of coca_ViT-B-32, coca_ViT-L-14 and has no open_clip_config.json beside it; pass the model config it was trained with as --config file.json`);
    expect(refusal(() => importOpenClip(lone, fresh('o')))).toMatch(/fits none of coca_ViT-B-32, coca_ViT-L-14 and has no open_clip_config\.json/);
  });

  it('--config: a file (a bare model config or a hub one) wins over the hub config beside; a known name is named in the refusal', () => {
    const hub = hubFolder(FIXTURE, { ...HUB, preprocess_cfg: { ...HUB.preprocess_cfg, resize_mode: 'longest' } });
    const bare = path.join(tmp, 'bare.json');
    fs.writeFileSync(bare, JSON.stringify(HUB.model_cfg));
    const r = importOpenClip(hub, fresh('o'), bare);
    // A bare model config carries no preprocessing: open_clip's defaults, not the hub's "longest".
    expect([r.configFrom, r.config.vision_cfg.image_resize_mode, r.config.vision_cfg.image_mean]).toEqual([bare, 'shortest', CLIP_MEAN]);
    expect(r.notes[0]).toMatch(/^.*bare\.json says multimodal_cfg\.mlp_ratio 2/);
    const hubCfg = path.join(tmp, 'hub-cfg.json');
    fs.writeFileSync(hubCfg, JSON.stringify({ ...HUB, preprocess_cfg: { ...HUB.preprocess_cfg, mean: [0.5, 0.25, 0.125], std: [1, 2, 4], interpolation: 'bilinear' } }));
    const h = importOpenClip(hub, fresh('o'), hubCfg);
    expect([h.config.vision_cfg.image_mean, h.config.vision_cfg.image_std, h.config.vision_cfg.image_interpolation]).toEqual([[0.5, 0.25, 0.125], [1, 2, 4], 'bilinear']);
    // model_cfg that is not an object: the file is read as a bare model config, which has no multimodal_cfg.
    const odd = path.join(tmp, 'odd.json');
    fs.writeFileSync(odd, JSON.stringify({ model_cfg: 'coca', ...HUB.model_cfg, multimodal_cfg: undefined }));
    expect(refusal(() => importOpenClip(hub, fresh('o'), odd))).toBe(`${odd} is not a CoCa config (no multimodal_cfg): coca imports open_clip's CoCa models only`);
    const named = refusal(() => importOpenClip(hub, fresh('o'), 'coca_ViT-L-14'));
    expect(named).toMatch(new RegExp(`^${path.join(hub, 'open_clip_model.safetensors').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} is not a checkpoint of coca_ViT-L-14: \\d+ of its tensors missing \\(e\\.g\\. [^)]+\\); it is another architecture: pass the --config it was trained with$`));
  });

  it('what does not fit, in one phrase: missing and extra tensors counted with an example, else the first shape that differs', () => {
    const renamed = copy(FIXTURE);
    const t = renamed.get('text.token_embedding.weight')!;
    renamed.delete('text.token_embedding.weight');
    renamed.set('text.token_embedding.weight2', t);
    const hub = hubFolder(renamed);
    const file = path.join(hub, 'open_clip_model.safetensors');
    expect(refusal(() => importOpenClip(hub, fresh('o')))).toBe(
      `${file} is not a checkpoint of ${path.join(hub, 'open_clip_config.json')}: 1 of its tensors missing (e.g. text.token_embedding.weight) and 1 tensors it does not have (e.g. text.token_embedding.weight2); it is another architecture: pass the --config it was trained with`,
    );
    const extra = copy(FIXTURE);
    extra.set('zz.extra', { shape: [1], data: new Float32Array(1) });
    const hub2 = hubFolder(extra);
    expect(refusal(() => importOpenClip(hub2, fresh('o')))).toMatch(/: 1 tensors it does not have \(e\.g\. zz\.extra\); it is another/);
    const fewer = copy(FIXTURE);
    fewer.delete('logit_scale');
    fewer.delete('text.token_embedding.weight');
    const hub3 = hubFolder(fewer);
    expect(refusal(() => importOpenClip(hub3, fresh('o')))).toMatch(/: 2 of its tensors missing \(e\.g\. [^)]+\); it is another/);
    const turned = copy(FIXTURE);
    turned.get('text.token_embedding.weight')!.shape = [16, 23];
    const hub4 = hubFolder(turned);
    expect(refusal(() => importOpenClip(hub4, fresh('o')))).toBe(
      `${path.join(hub4, 'open_clip_model.safetensors')} is not a checkpoint of ${path.join(hub4, 'open_clip_config.json')}: text.token_embedding.weight is [16, 23] where it has [23, 16]; it is another architecture: pass the --config it was trained with`,
    );
  });
});

describe('cocaConfigOf: open_clip config to coca config', () => {
  const oc = (preprocess: Record<string, unknown> | undefined, edit: (m: Record<string, Record<string, unknown>>) => void = () => {}) => {
    const model = structuredClone(HUB.model_cfg);
    edit(model);
    return { model, preprocess, where: 'w.json' };
  };

  it("longest with bilinear: a note on padding after Pillow's resize; longest with bicubic or shortest with bilinear: none", () => {
    const notes: string[] = [];
    const c = cocaConfigOf(oc({ resize_mode: 'longest', interpolation: 'bilinear', fill_color: 7 }, (m) => (m['multimodal_cfg']!['mlp_ratio'] = 4)), notes);
    expect(notes).toEqual([
      "open_clip resizes bilinear (Pillow's) and then pads; coca's bilinear is its own resampler and pads first, so inputs differ slightly along the padded border",
    ]);
    expect([c.vision_cfg.image_interpolation, c.vision_cfg.image_pad_after_resize]).toEqual(['bilinear', [7, 7, 7]]);
    for (const p of [{ resize_mode: 'longest', interpolation: 'bicubic' }, { resize_mode: 'shortest', interpolation: 'bilinear' }, { resize_mode: 'squash', interpolation: 'bilinear' }]) {
      const quiet: string[] = [];
      cocaConfigOf(oc(p, (m) => delete m['multimodal_cfg']!['mlp_ratio']), quiet);
      expect(quiet, JSON.stringify(p)).toEqual([]);
    }
  });

  it.each([256, -1, 1.5, [1, 2], [1, 2, 256], [1, -2, 3], [1, 2, 3.5], '7', true, {}])('fill_color %j is refused in one line', (fill) => {
    expect(refusal(() => cocaConfigOf(oc({ resize_mode: 'longest', fill_color: fill }), []))).toBe(
      `w.json: preprocess fill_color ${JSON.stringify(fill)} is not an integer 0..255 nor three of them; fix it in the config`,
    );
  });

  it('fill_color null is the default black; the input config is not changed', () => {
    const o = oc({ resize_mode: 'longest', fill_color: null });
    const before = structuredClone(o.model);
    expect(cocaConfigOf(o, []).vision_cfg.image_pad_after_resize).toEqual([0, 0, 0]);
    expect(o.model).toEqual(before);
  });

  it("a config coca cannot build: parseConfig's first line, with what coca runs of open_clip's CoCa", () => {
    const msg = refusal(() => cocaConfigOf(oc(undefined, (m) => (m['vision_cfg']!['layers'] = 0)), []));
    expect(msg.split('\n')).toHaveLength(1);
    expect(msg).toMatch(/^w\.json.*layers.* \(coca runs open_clip's CoCa with a ViT image tower and its own text towers only\)$/);
  });
});

describe('export: what is written', () => {
  /** A coca checkpoint folder of the fixture's model with `cfg` (a coca config) and optional tokenizer.json. */
  function ownCheckpoint(cfg: Record<string, unknown>, tensors: Map<string, T> = FIXTURE, tokenizer?: object): string {
    const dir = fresh('own');
    const files: Parameters<typeof writeCheckpointFolder>[1][number][] = [
      { name: 'model.safetensors', tensors: new Map([...tensors].map(([k, t]) => [k, { shape: t.shape, data: t.data }])) },
      { name: 'config.json', text: JSON.stringify(cfg) },
    ];
    if (tokenizer) files.push({ name: 'tokenizer.json', text: JSON.stringify(tokenizer) });
    writeCheckpointFolder(dir, files);
    return dir;
  }
  let imported: Record<string, Record<string, unknown>>;
  beforeAll(() => {
    const out = fresh('base');
    importOpenClip(hubFolder(FIXTURE), out);
    imported = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8')) as Record<string, Record<string, unknown>>;
  });

  it("open_clip's model config and preprocess_cfg, as open_clip's factory reads them", () => {
    const dir = ownCheckpoint(imported);
    const out = fresh('exp');
    const r = exportOpenClip(dir, out);
    expect(r).toEqual({ tensors: 79, notes: [] });
    const text = fs.readFileSync(path.join(out, 'open_clip_config.json'), 'utf8');
    const written = JSON.parse(text) as Record<string, unknown>;
    expect(text).toBe(JSON.stringify(written, null, 2) + '\n');
    expect(written).toEqual({
      model_cfg: {
        embed_dim: 16,
        vision_cfg: { image_size: 12, layers: 1, width: 24, patch_size: 4, head_width: 12, mlp_ratio: 2, attentional_pool: true, attn_pooler_queries: 4, attn_pooler_heads: 2, output_tokens: true },
        text_cfg: { context_length: 7, vocab_size: 23, width: 16, heads: 2, layers: 1, mlp_ratio: 2, pad_id: 0, embed_cls: true, output_tokens: true },
        multimodal_cfg: { context_length: 7, vocab_size: 23, width: 16, heads: 2, layers: 1, mlp_ratio: 4 },
        custom_text: true,
      },
      preprocess_cfg: { size: [12, 12], mode: 'RGB', mean: CLIP_MEAN, std: CLIP_STD, interpolation: 'bicubic', resize_mode: 'shortest', fill_color: 0 },
    });
    expect(openClipModelConfig(JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as never)).toEqual(written['model_cfg']);
    const st = readSt(path.join(out, 'open_clip_model.safetensors'));
    expect(st.meta).toEqual({ format: 'pt' });
    expect(st.tensors.size).toBe(79);
    const marker = JSON.parse(fs.readFileSync(path.join(out, OWN_MARKER), 'utf8')) as { command: string; from: string };
    expect([marker.command, marker.from]).toEqual(['coca export open_clip', path.resolve(dir)]);
  });

  it("coca's own choices each get their note: the correct text mask, coca's BPE, flattened transparency, no recorded preprocessing", () => {
    const v = imported['vision_cfg']!;
    const own = { ...imported, text_cfg: { ...imported['text_cfg'], vocab_size: 260, correct_cls_mask: true }, multimodal_cfg: { ...imported['multimodal_cfg'], vocab_size: 260 }, vision_cfg: { ...Object.fromEntries(Object.entries(v).filter(([k]) => k !== 'image_alpha')), image_background: [9, 8, 7] } };
    const dir = ownCheckpoint(own, withVocab(260), handJson(COCA));
    const r = exportOpenClip(dir, fresh('exp'));
    expect(r.notes).toEqual([
      "open_clip computes CoCa's text tower with its legacy mask (the key right of each pad token masked, not the pad); this model was trained with the correct one, so in open_clip its text embeddings of padded captions differ a little until fine-tuned there",
      "its tokenizer is coca's own BPE (260 tokens), not CLIP's: tokenizer.json is written beside it; give it to open_clip as a Hugging Face tokenizer",
      "this model sees transparent pictures flattened on 9 8 7; open_clip drops transparency (convert('RGB')), so there a picture with transparency gives other inputs",
    ]);
    const bare = { ...imported, vision_cfg: Object.fromEntries(Object.entries(v).filter(([k]) => k === 'image_size' || !k.startsWith('image_'))) };
    const dir2 = ownCheckpoint(bare);
    const r2 = exportOpenClip(dir2, fresh('exp'));
    expect(r2.notes[0]).toMatch(new RegExp(`^warning: ${dir2.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} records no image preprocessing`));
  });

  it('refused in one line: a CNN tower, a decoder MLP ratio other than 4, a tensor missing or not F32', () => {
    const cnn = ownCheckpoint({ ...imported, vision_cfg: { image_size: 12, tower: 'cnn', cnn_widths: [24], cnn_depths: [1], attentional_pool: true, attn_pooler_queries: 4, attn_pooler_heads: 2 } });
    const o = fresh('x');
    expect(refusal(() => exportOpenClip(cnn, o))).toBe(`${cnn} has coca's CNN image tower (vision_cfg.tower "cnn"), which open_clip's CoCa cannot build; only ViT models export to open_clip`);
    const ratio = ownCheckpoint({ ...imported, multimodal_cfg: { ...imported['multimodal_cfg'], mlp_ratio: 2 } });
    expect(refusal(() => exportOpenClip(ratio, o))).toBe(`${ratio} has a decoder MLP ratio of 2; open_clip's CoCa decoder is always built with 4, so it cannot load this model: train with multimodal_cfg.mlp_ratio 4`);
    const fewer = copy(FIXTURE);
    fewer.delete('text.ln_final.bias');
    const missing = ownCheckpoint(imported, fewer);
    expect(refusal(() => exportOpenClip(missing, o))).toBe(`${path.join(missing, 'model.safetensors')}: tensor "text.ln_final.bias" is missing or not F32; the checkpoint is damaged: use another one`);
    expect(fs.existsSync(o)).toBe(false);
  });
});
