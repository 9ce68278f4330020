// Reading open_clip checkpoints without running them, and refusing what does not fit in one line
// with nothing written: another architecture, a truncated file, a pickle that asks to run code.
// The files are open_clip's own (test/fixtures/openclip/, scripts/reference/openclip_interop.py).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportOpenClip, importOpenClip } from '../../src/interop/openclip.ts';
import { writeCheckpointFolder } from '../../src/model/checkpoint-folder.ts';
import { unpickle } from '../../src/interop/pickle.ts';
import { readStateDict } from '../../src/interop/state-dict.ts';
import { InteropError } from '../../src/interop/errors.ts';

const FX = path.join(import.meta.dirname, '..', 'fixtures', 'openclip');
let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-interop-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** The one-line message of the InteropError `f` throws, and that `out` was not created. */
function refusal(f: () => unknown, out: string): string {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(InteropError);
  const msg = (err as Error).message;
  expect(msg.split('\n')).toHaveLength(1);
  expect(fs.existsSync(out)).toBe(false);
  expect(fs.readdirSync(tmp).filter((n) => n.startsWith('.'))).toEqual([]);
  return msg;
}

function truncated(file: string, keep: number): string {
  const dst = path.join(tmp, `cut-${keep}-${path.basename(file)}`);
  fs.writeFileSync(dst, fs.readFileSync(file).subarray(0, keep));
  return dst;
}

describe('open_clip state dicts', () => {
  it('the three formats hold the same tensors, bit for bit, names without DDP prefixes', () => {
    const a = readStateDict(path.join(FX, 'open_clip_model.safetensors'));
    expect(a.size).toBe(79);
    for (const f of ['open_clip_pytorch_model.bin', 'epoch_1.pt']) {
      const b = readStateDict(path.join(FX, f));
      expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
      for (const [k, v] of a) {
        expect(b.get(k)!.shape, k).toEqual(v.shape);
        expect(Buffer.from(b.get(k)!.data.buffer).equals(Buffer.from(v.data.buffer)), k).toBe(true);
      }
    }
  });

  it('views (a transpose, a slice) and half/bfloat16 storages come out as the values torch holds', () => {
    // views.bin: base = arange(12).reshape(3, 4) / 8 - 0.7 saved as base.t(), base[1:, 1:3], .half(), .bfloat16().
    // float32 arithmetic, as torch did it: i/8 is exact, 0.7 and the difference are rounded.
    const base = Array.from({ length: 12 }, (_, i) => Math.fround(i / 8 - Math.fround(0.7)));
    const sd = readStateDict(path.join(FX, 'views.bin'));
    const t = sd.get('transposed')!;
    expect(t.shape).toEqual([4, 3]);
    expect(Array.from(t.data)).toEqual(Array.from({ length: 12 }, (_, i) => Math.fround(base[(i % 3) * 4 + Math.floor(i / 3)]!)));
    const s = sd.get('sliced')!;
    expect(s.shape).toEqual([2, 2]);
    expect(Array.from(s.data)).toEqual([5, 6, 9, 10].map((i) => Math.fround(base[i]!)));
    // Half and bfloat16 round to 11 and 8 significant bits.
    sd.get('half')!.data.forEach((v, i) => expect(Math.abs(v - base[i]!)).toBeLessThanOrEqual(Math.abs(base[i]!) * 2 ** -11 + 1e-7));
    sd.get('bfloat16')!.data.forEach((v, i) => expect(Math.abs(v - base[i]!)).toBeLessThanOrEqual(Math.abs(base[i]!) * 2 ** -8 + 1e-7));
    expect([sd.get('half')!.dtype, sd.get('bfloat16')!.dtype]).toEqual(['F16', 'BF16']);
  });

  it('a checkpoint of another architecture: one line naming the first tensor that differs', () => {
    const out = path.join(tmp, 'arch');
    const msg = refusal(() => importOpenClip(path.join(FX, 'open_clip_model.safetensors'), out, 'coca_ViT-B-32'), out);
    expect(msg).toMatch(/is not a checkpoint of coca_ViT-B-32: .*missing .*another architecture/);
  });

  it('with no config given and none beside it, one that fits no known model', () => {
    const lone = path.join(tmp, 'lone');
    fs.mkdirSync(lone);
    fs.copyFileSync(path.join(FX, 'open_clip_pytorch_model.bin'), path.join(lone, 'open_clip_pytorch_model.bin'));
    const out = path.join(tmp, 'lone-out');
    expect(refusal(() => importOpenClip(lone, out), out)).toMatch(/fits none of coca_ViT-B-32, coca_ViT-L-14 .*--config/);
    fs.rmSync(lone, { recursive: true });
  });

  it.each([
    ['open_clip_pytorch_model.bin', 0.5],
    ['open_clip_pytorch_model.bin', 0.999],
    ['epoch_1.pt', 0.7],
    ['open_clip_model.safetensors', 0.5],
    ['open_clip_model.safetensors', 0.0001],
  ])('a truncated %s (%f kept): one line saying so', (file, frac) => {
    const src = path.join(FX, file);
    const cut = truncated(src, Math.max(1, Math.floor(fs.statSync(src).size * frac)));
    const out = path.join(tmp, 'cut');
    expect(refusal(() => importOpenClip(cut, out, path.join(FX, 'open_clip_config.json')), out)).toMatch(/truncated/);
  });

  it('a pickle that asks to run code: refused naming the callable, nothing run, nothing written', () => {
    const out = path.join(tmp, 'evil');
    const msg = refusal(() => importOpenClip(path.join(FX, 'runs_code.bin'), out, 'coca_ViT-B-32'), out);
    expect(msg).toMatch(/asks to run posix\.getpid.*refused before running anything/);
  });

  it("a file of PyTorch's legacy format or of no known format", () => {
    const legacy = path.join(tmp, 'legacy.pt');
    fs.writeFileSync(legacy, Buffer.from([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e, 0x80]));
    const out = path.join(tmp, 'x');
    expect(refusal(() => importOpenClip(legacy, out, 'coca_ViT-B-32'), out)).toMatch(/legacy format/);
    const text = path.join(tmp, 'notes.bin');
    fs.writeFileSync(text, 'these are not weights at all');
    expect(refusal(() => importOpenClip(text, out, 'coca_ViT-B-32'), out)).toMatch(/neither safetensors nor a PyTorch zip/);
  });

  it('an unknown --config, and an output folder holding other files', () => {
    const out = path.join(tmp, 'y');
    expect(refusal(() => importOpenClip(path.join(FX, 'open_clip_model.safetensors'), out, 'coca_ViT-H-99'), out)).toMatch(/--config coca_ViT-H-99: no such file/);
    const busy = path.join(tmp, 'busy');
    fs.mkdirSync(busy);
    fs.writeFileSync(path.join(busy, 'mine.txt'), 'x');
    expect(() => importOpenClip(path.join(FX, 'open_clip_model.safetensors'), busy)).toThrow(/already holds files/);
    expect(fs.readdirSync(busy)).toEqual(['mine.txt']);
  });
});

describe('export to open_clip', () => {
  it("writes open_clip's own state dict back, bit for bit, with a config open_clip builds the same model from", () => {
    const imported = path.join(tmp, 'imp');
    importOpenClip(path.join(FX, 'epoch_1.pt'), imported);
    const out = path.join(tmp, 'exp');
    exportOpenClip(imported, out);
    expect(fs.readdirSync(out).sort()).toEqual(['.coca-output.json', 'manifest.json', 'open_clip_config.json', 'open_clip_model.safetensors']);
    const orig = readStateDict(path.join(FX, 'open_clip_model.safetensors'));
    const back = readStateDict(path.join(out, 'open_clip_model.safetensors'));
    // load_state_dict(strict=True) needs exactly open_clip's names; the values are the imported ones.
    expect([...back.keys()].sort()).toEqual([...orig.keys()].sort());
    for (const [k, v] of orig) expect(Buffer.from(back.get(k)!.data.buffer).equals(Buffer.from(v.data.buffer)), k).toBe(true);
    const cfg = JSON.parse(fs.readFileSync(path.join(out, 'open_clip_config.json'), 'utf8')) as { model_cfg: Record<string, Record<string, unknown>>; preprocess_cfg: Record<string, unknown> };
    const src = JSON.parse(fs.readFileSync(path.join(FX, 'open_clip_config.json'), 'utf8')) as { model_cfg: Record<string, Record<string, unknown>>; preprocess_cfg: Record<string, unknown> };
    for (const sec of ['vision_cfg', 'text_cfg'] as const) for (const [k, v] of Object.entries(src.model_cfg[sec]!)) expect(cfg.model_cfg[sec]![k], `${sec}.${k}`).toEqual(v);
    expect(cfg.preprocess_cfg['mean']).toEqual(src.preprocess_cfg['mean']);
    // And back again: the export imports as the same model.
    const again = path.join(tmp, 'again');
    expect(importOpenClip(out, again).config).toEqual(importOpenClip(path.join(FX, 'open_clip_model.safetensors'), path.join(tmp, 'again2')).config);
  });

  it('the cascade pooler: one line saying open_clip has no twin and which layout to train with', () => {
    const ck = path.join(tmp, 'cascade');
    const micro = JSON.parse(fs.readFileSync(path.join(import.meta.dirname, '..', 'fixtures', 'parity_micro.json'), 'utf8')) as Record<string, Record<string, unknown>>;
    const cfg = { ...micro, vision_cfg: { ...micro['vision_cfg'], attentional_pool: 'cascade' } };
    writeCheckpointFolder(ck, [{ name: 'config.json', text: JSON.stringify(cfg) }, { name: 'model.safetensors', tensors: new Map() }]);
    const out = path.join(tmp, 'cascade-out');
    expect(refusal(() => exportOpenClip(ck, out), out)).toMatch(/cascade pooler .*no twin.*--config b32/);
  });
});

describe('the restricted unpickler', () => {
  // Python 3.11: pickle.dumps({'a': [1, -2, 300, 70000, -(2**40), 2.5, None, True, False],
  //   'b': ('x', 'é'), 3: collections.OrderedDict([('k', (1, 2, 3))])}, protocol=2 and 4)
  const P2 =
    '80027d71002858010000006171015d7102284b014afeffffff4d2c014a701101008a060000000000ff4740040000000000004e888965580100000062710358010000007871045802000000c3a971058671064b0363636f6c6c656374696f6e730a4f726465726564446963740a71072952710858010000006b71094b014b024b0387710a73752e';
  const P4 =
    '8004956f000000000000007d94288c0161945d94284b014afeffffff4d2c014a701101008a060000000000ff4740040000000000004e8889658c0162948c0178948c02c3a99486944b038c0b636f6c6c656374696f6e73948c0b4f726465726564446963749493942952948c016b944b014b024b03879473752e';
  it.each([['protocol 2', P2], ['protocol 4', P4]])('reads what Python wrote (%s)', (_p, hex) => {
    const v = unpickle(Buffer.from(hex, 'hex'), 't') as Map<unknown, unknown>;
    expect(v.get('a')).toEqual([1, -2, 300, 70000, -(2 ** 40), 2.5, null, true, false]);
    expect(v.get('b')).toEqual(['x', 'é']);
    expect(v.get(3)).toEqual(new Map([['k', [1, 2, 3]]]));
  });

  it('refuses a call of anything outside its list, and a pickle cut short', () => {
    // pickle.dumps(os.system) under protocol 2 is GLOBAL 'posix system'; here called with ('true',).
    const call = Buffer.concat([Buffer.from('8002', 'hex'), Buffer.from('cposix\nsystem\n'), Buffer.from('58040000007472756585522e', 'hex')]);
    expect(() => unpickle(call, 'evil.pkl')).toThrow(/evil\.pkl: the pickle asks to run posix\.system/);
    expect(() => unpickle(Buffer.from(P2.slice(0, 60), 'hex'), 'cut.pkl')).toThrow(/cut\.pkl: .*truncated/);
  });
});
