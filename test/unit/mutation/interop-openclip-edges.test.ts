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
import { cocaConfigOf, importOpenClip } from '../../../src/interop/openclip.ts';
import { FIXTURE, HUB, writeSt } from './interop-st.ts';

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
function hubFolder(cfgText: string | null): string {
  const dir = fresh('hub');
  fs.mkdirSync(dir);
  writeSt(path.join(dir, 'open_clip_model.safetensors'), FIXTURE);
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
