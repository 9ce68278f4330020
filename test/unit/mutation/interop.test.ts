// src/interop/state-dict.ts and pickle.ts against files another implementation wrote: state dicts
// in torch.save's zip layout made by Python's pickle and zipfile with stand-ins for torch's
// callables (scripts/reference/torch_zip_fixtures.py; views, half/bfloat16/double storages, empty
// and damaged tensors) and safetensors of F16/BF16, and pickles built opcode by opcode whose
// values Python's pickle.loads gives (stated beside each). The mutation run found the views,
// half-precision paths, most opcodes and every refusal unreached by test/unit/interop.test.ts.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { InteropError } from '../../../src/interop/errors.ts';
import { PickleCodeError, unpickle } from '../../../src/interop/pickle.ts';
import { readStateDict } from '../../../src/interop/state-dict.ts';
import { cocaConfigOf, importOpenClip } from '../../../src/interop/openclip.ts';

const FX = path.join(import.meta.dirname, '..', '..', 'fixtures', 'zip');
const fx = (n: string) => path.join(FX, n);
const values = (sd: ReturnType<typeof readStateDict>, name: string) => {
  const t = sd.get(name)!;
  return { shape: t.shape, data: Array.from(t.data), dtype: t.dtype };
};

describe('state dicts in torch.save’s layout', () => {
  // Read inside each test, not once when the file is collected: a mutation run credits a mutant's
  // kill only to code a test runs.
  const views = () => readStateDict(fx('views.pt'));

  it('views of one storage: contiguous, transposed, a row, a column, a size-1 dimension', () => {
    const sd = views();
    const t = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
    expect(values(sd, 't')).toEqual({ shape: [3, 4], data: t, dtype: 'F32' });
    expect(values(sd, 'tt')).toEqual({ shape: [4, 3], data: [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11], dtype: 'F32' });
    expect(values(sd, 'row').data).toEqual([8, 9, 10, 11]);
    expect(values(sd, 'col').data).toEqual([1, 5, 9]);
    expect(values(sd, 'one')).toEqual({ shape: [1, 3], data: [4, 5, 6], dtype: 'F32' });
    expect(values(sd, 'empty')).toEqual({ shape: [0, 5], data: [], dtype: 'F32' });
    expect([...sd.keys()]).toEqual(['t', 'tt', 'row', 'col', 'one', 'half', 'small', 'bf', 'dbl', 'empty']);
  });

  it('half, bfloat16 and double storages widened (or rounded) to float32, subnormals and infinities kept', () => {
    const sd = views();
    expect(values(sd, 'half')).toEqual({ shape: [2, 2], data: [1, 0.5, -2, 65504], dtype: 'F16' });
    const small = sd.get('small')!.data;
    expect(small[0]).toBe(2 ** -24);
    expect(Object.is(small[1], -0)).toBe(true);
    expect(small[2]).toBe(-Infinity);
    expect(values(sd, 'bf')).toEqual({ shape: [3], data: [1.5, -3, 2 ** -130], dtype: 'BF16' });
    expect(values(sd, 'dbl')).toEqual({ shape: [2], data: [Math.fround(0.1), Infinity], dtype: 'F64' });
  });

  it('safetensors of F16 and BF16 widened; an integer tensor refused', () => {
    const h = readStateDict(fx('halves.safetensors'));
    expect(values(h, 'h')).toEqual({ shape: [4], data: [1, -2, 2 ** -24, -Infinity], dtype: 'F16' });
    expect(values(h, 'b')).toEqual({ shape: [2], data: [1.5, -3], dtype: 'BF16' });
    expect(() => readStateDict(fx('ints.safetensors'))).toThrow(new InteropError(`${fx('ints.safetensors')}: tensor "i" is I64; an open_clip model's weights are floating point: this is not a model checkpoint`));
  });

  it('refused in one line: a view past its storage, a storage shorter than it says, an integer storage, a big-endian file, a list instead of a dict', () => {
    const msg = (f: string) => {
      try {
        readStateDict(fx(f));
      } catch (e) {
        expect(e).toBeInstanceOf(InteropError);
        return (e as Error).message;
      }
      return 'read';
    };
    expect(msg('past.pt')).toBe(`${fx('past.pt')}: tensor "x" reaches past its storage; the file is damaged`);
    expect(msg('short.pt')).toBe(`${fx('short.pt')}: the storage of "x" holds 12 bytes, fewer than its 4 elements; the file is truncated or damaged: download it again`);
    expect(msg('long.pt')).toBe(`${fx('long.pt')}: tensor "x" is a LongStorage; an open_clip model's weights are floating point: this is not a model checkpoint`);
    expect(msg('big.pt')).toBe(`${fx('big.pt')} was saved on a big-endian machine; load and re-save it with torch on a little-endian one`);
    expect(msg('list.pt')).toBe(`${fx('list.pt')} holds no state dict (a dict of tensors); pass open_clip's model checkpoint`);
  });
});

// Opcodes by byte: the pickles below are spelled out, each checked with Python 3.11's pickle.loads.
const op = {
  PROTO2: [0x80, 2], MARK: [0x28], STOP: [0x2e], EMPTY_LIST: [0x5d], EMPTY_DICT: [0x7d], EMPTY_TUPLE: [0x29], EMPTY_SET: [0x8f], ADDITEMS: [0x90],
  LIST: [0x6c], DICT: [0x64], TUPLE: [0x74], APPEND: [0x61], SETITEM: [0x73], POP: [0x30], POP_MARK: [0x31], DUP: [0x32], BUILD: [0x62],
  REDUCE: [0x52], NEWOBJ: [0x81], BINPERSID: [0x51], NONE: [0x4e],
};
const int1 = (n: number) => [0x4b, n];
const str = (s: string) => { const b = Buffer.from(s); return [0x8c, b.length, ...b]; };
const global = (m: string, n: string) => [0x63, ...Buffer.from(`${m}\n${n}\n`)];
const pk = (...parts: number[][]) => Buffer.from(parts.flat());

describe('the restricted unpickler, opcode by opcode', () => {
  it('strings and bytes of every width, sets, lists and dicts from marks, POP, POP_MARK, DUP', () => {
    // pickle.loads(...) == [('ab', 'cd', b'\x00\x01', b'xyz', 'é'), {1, 2}, [3, 4], {5: 6}, 7, 7, [8], 2**40]
    const bytes = pk(
      op.PROTO2, op.MARK, op.MARK,
      [0x55, 2, ...Buffer.from('ab')], // SHORT_BINSTRING
      [0x54, 2, 0, 0, 0, ...Buffer.from('cd')], // BINSTRING
      [0x43, 2, 0, 1], // SHORT_BINBYTES
      [0x42, 3, 0, 0, 0, ...Buffer.from('xyz')], // BINBYTES
      [0x8d, 2, 0, 0, 0, 0, 0, 0, 0, 0xc3, 0xa9], // BINUNICODE8 'é'
      op.TUPLE,
      op.EMPTY_SET, op.MARK, int1(1), int1(2), op.ADDITEMS,
      op.MARK, int1(3), int1(4), op.LIST,
      op.MARK, int1(5), int1(6), op.DICT,
      int1(99), op.POP, // pushed and dropped
      op.MARK, int1(98), int1(97), op.POP_MARK, // a marked group dropped
      int1(7), op.DUP,
      op.EMPTY_LIST, int1(8), op.APPEND, // a one-element list
      [0x8a, 6, 0, 0, 0, 0, 0, 1], // LONG1 2**40, positive
      op.LIST, op.STOP,
    );
    const v = unpickle(bytes, 'p') as unknown[];
    expect(v).toHaveLength(8);
    expect(v.slice(6)).toEqual([[8], 2 ** 40]);
    expect(v[0]).toEqual(['ab', 'cd', Buffer.from([0, 1]), Buffer.from('xyz'), 'é']);
    expect(v[1]).toEqual(new Set([1, 2]));
    expect(v.slice(2, 6)).toEqual([[3, 4], new Map([[5, 6]]), 7, 7]);
  });

  it('NEWOBJ of an OrderedDict, BUILD on a dict, torch.device and _codecs.encode, a tensor subclass rebuilt', () => {
    // pickle.loads(...) == [OrderedDict(), {}, device('cpu') (here its name), b'\xe9'] with torch present.
    const bytes = pk(
      op.PROTO2, op.MARK,
      global('collections', 'OrderedDict'), op.EMPTY_TUPLE, op.NEWOBJ,
      op.EMPTY_DICT, op.EMPTY_DICT, op.BUILD,
      global('torch', 'device'), str('cpu'), [0x85], op.REDUCE,
      global('_codecs', 'encode'), str('é'), str('latin1'), [0x86], op.REDUCE,
      op.LIST, op.STOP,
    );
    expect(unpickle(bytes, 'p')).toEqual([new Map(), new Map(), 'device(cpu)', Buffer.from([0xe9])]);
    // _rebuild_from_type_v2(_rebuild_tensor_v2, Parameter, (storage, 2, (3,), (1,)), {}) is the tensor.
    const storage = [op.MARK, str('storage'), global('torch', 'HalfStorage'), str('7'), str('cpu'), int1(5), op.TUPLE, op.BINPERSID];
    const fromType = pk(
      op.PROTO2, global('torch._tensor', '_rebuild_from_type_v2'), op.MARK,
      global('torch._utils', '_rebuild_tensor_v2'), global('torch.nn.parameter', 'Parameter'),
      op.MARK, ...storage, int1(2), op.MARK, int1(3), op.TUPLE, op.MARK, int1(1), op.TUPLE, op.TUPLE,
      op.EMPTY_DICT, op.TUPLE, op.REDUCE, op.STOP,
    );
    expect(unpickle(fromType, 'p')).toEqual({ kind: 'tensor', storage: { kind: 'storage', type: 'HalfStorage', key: '7', numel: 5 }, offset: 2, size: [3], stride: [1] });
  });

  it('each malformed pickle in one line naming the file', () => {
    const why = (parts: number[][]) => {
      try {
        unpickle(pk(...parts), 'f.pkl');
      } catch (e) {
        expect(e).toBeInstanceOf(InteropError);
        const m = (e as Error).message;
        expect(m.split('\n')).toHaveLength(1);
        expect(m.startsWith('f.pkl: ')).toBe(true);
        return m.slice('f.pkl: '.length);
      }
      return 'read';
    };
    const damaged = '; the file is damaged or not a PyTorch checkpoint';
    expect(why([op.PROTO2, [0x63, ...Buffer.from('collections\nOrderedDict')]])).toBe(`a text instruction has no end of line${damaged}`);
    expect(why([op.PROTO2, op.POP])).toBe(`the pickle pops an empty stack${damaged}`);
    expect(why([op.PROTO2, op.DUP])).toBe(`the pickle reads an empty stack${damaged}`);
    expect(why([op.PROTO2, op.LIST])).toBe(`the pickle closes a mark it never opened${damaged}`);
    expect(why([op.PROTO2, global('collections', 'OrderedDict'), int1(1), op.REDUCE])).toBe(`a call without an argument tuple${damaged}`);
    expect(why([op.PROTO2, op.EMPTY_LIST, int1(1), int1(2), op.SETITEM])).toBe(`items set on something that is not a dict${damaged}`);
    expect(why([op.PROTO2, op.EMPTY_DICT, int1(1), op.APPEND])).toBe(`items appended to something that is not a list${damaged}`);
    expect(why([op.PROTO2, [0x68, 5]])).toBe(`the pickle refers to memo 5, never stored${damaged}`);
    expect(why([op.PROTO2, op.EMPTY_LIST, op.EMPTY_DICT, op.BUILD])).toBe(`state given to something that is not a dict${damaged}`);
    expect(why([op.PROTO2, op.MARK, str('storage'), int1(1), op.TUPLE, op.BINPERSID])).toBe(`a persistent id that is not a torch storage${damaged}`);
    expect(why([op.PROTO2, op.MARK, str('module'), global('torch', 'FloatStorage'), str('0'), str('cpu'), int1(3), op.TUPLE, op.BINPERSID])).toBe(`a persistent id that is not a torch storage${damaged}`);
    expect(why([op.PROTO2, [0x49]])).toBe(`pickle opcode 0x49 at byte 2 is not one torch.save writes${damaged}`);
    // A call of something that is not a function: the refusal names it.
    expect(why([op.PROTO2, int1(1), op.EMPTY_TUPLE, op.REDUCE])).toMatch(/^the pickle asks to run a value that is not a function/);
    expect(why([op.PROTO2, global('torch', 'FloatStorage'), op.EMPTY_TUPLE, op.REDUCE])).toMatch(/^the pickle asks to run torch\.FloatStorage/);
    // torch's rebuilders given something else than a storage, sizes that are not integers, no known rebuild function.
    const rebuild = (storage: number[][], size: number[][]) => [op.PROTO2, global('torch._utils', '_rebuild_tensor_v2'), op.MARK, ...storage, int1(0), ...size, op.MARK, int1(1), op.TUPLE, op.TUPLE, op.REDUCE, op.STOP];
    expect(why(rebuild([op.NONE], [op.MARK, int1(3), op.TUPLE]))).toBe(`a tensor is rebuilt from something that is not a storage${damaged}`);
    expect(why(rebuild([op.EMPTY_DICT], [op.MARK, int1(3), op.TUPLE]))).toBe(`a tensor is rebuilt from something that is not a storage${damaged}`);
    const s = [op.MARK, str('storage'), global('torch', 'FloatStorage'), str('0'), str('cpu'), int1(3), op.TUPLE, op.BINPERSID];
    expect(why(rebuild(s, [op.MARK, str('3'), op.TUPLE]))).toBe(`a tensor size is not a tuple of integers${damaged}`);
    expect(why(rebuild(s, [int1(3)]))).toBe(`a tensor size is not a tuple of integers${damaged}`);
    const badStride = [op.PROTO2, global('torch._utils', '_rebuild_tensor_v2'), op.MARK, ...s, int1(0), op.MARK, int1(3), op.TUPLE, op.MARK, str('1'), op.TUPLE, op.TUPLE, op.REDUCE, op.STOP];
    expect(why(badStride)).toBe(`a tensor stride is not a tuple of integers${damaged}`);
    expect(why([op.PROTO2, global('torch._tensor', '_rebuild_from_type_v2'), op.MARK, global('torch', 'Tensor'), op.NONE, op.EMPTY_TUPLE, op.EMPTY_DICT, op.TUPLE, op.REDUCE, op.STOP])).toBe(`_rebuild_from_type_v2 names no known rebuild function${damaged}`);
  });

  it('PickleCodeError is an InteropError by its own name', () => {
    try {
      unpickle(pk(op.PROTO2, global('os', 'system')), 'x');
    } catch (e) {
      expect(e).toBeInstanceOf(PickleCodeError);
      expect((e as Error).name).toBe('PickleCodeError');
      expect(new InteropError('m').name).toBe('InteropError');
    }
    expect.assertions(3);
  });
});

describe('open_clip configs and sources coca refuses or adjusts (fourth mutation run: untested refusals)', () => {
  const fixture = JSON.parse(fs.readFileSync(path.join(import.meta.dirname, '..', '..', 'fixtures', 'openclip', 'open_clip_config.json'), 'utf8')) as {
    model_cfg: Record<string, Record<string, unknown>>;
    preprocess_cfg: Record<string, unknown>;
  };
  const oc = (edit: (m: Record<string, Record<string, unknown>>, p: Record<string, unknown>) => void) => {
    const model = structuredClone(fixture.model_cfg);
    const preprocess = structuredClone(fixture.preprocess_cfg);
    edit(model, preprocess);
    return { model, preprocess, where: 'cfg.json' };
  };

  it('a config without multimodal_cfg, vision_cfg or text_cfg; a resize mode coca lacks', () => {
    expect(() => cocaConfigOf(oc((m) => delete m['multimodal_cfg']), [])).toThrow(new InteropError("cfg.json is not a CoCa config (no multimodal_cfg): coca imports open_clip's CoCa models only"));
    expect(() => cocaConfigOf(oc((m) => delete m['vision_cfg']), [])).toThrow(new InteropError('cfg.json: vision_cfg is missing; pass an open_clip CoCa config'));
    expect(() => cocaConfigOf(oc((m) => ((m as Record<string, unknown>)['text_cfg'] = null)), [])).toThrow(new InteropError('cfg.json: text_cfg is missing; pass an open_clip CoCa config'));
    expect(() => cocaConfigOf(oc((_, p) => (p['resize_mode'] = 'stretch')), [])).toThrow(/^cfg\.json: preprocess resize_mode "stretch" is not one coca has \(/);
  });

  it('an interpolation coca lacks becomes bicubic with a note; a decoder MLP ratio other than 4 is imported as 4 with a note', () => {
    const notes: string[] = [];
    const c = cocaConfigOf(oc((_, p) => (p['interpolation'] = 'lanczos')), notes);
    expect(c.vision_cfg.image_interpolation).toBe('bicubic');
    // The fixture's multimodal_cfg says mlp_ratio 2, which open_clip ignores.
    expect(c.multimodal_cfg.mlp_ratio).toBe(4);
    expect(notes).toEqual([
      'open_clip resizes its pictures lanczos, which coca lacks; imported with bicubic, so inputs differ slightly where pictures are scaled',
      "cfg.json says multimodal_cfg.mlp_ratio 2, which open_clip ignores (its decoder's MLPs are always 4× wide); imported as 4",
    ]);
    const quiet: string[] = [];
    cocaConfigOf(oc((m) => (m['multimodal_cfg']!['mlp_ratio'] = 4)), quiet);
    expect(quiet).toEqual([]);
    // Without preprocess_cfg: CLIP's mean and std, shortest-side resize, bicubic.
    const bare = cocaConfigOf({ model: structuredClone(fixture.model_cfg), where: 'm.json' }, []);
    expect([bare.vision_cfg.image_resize_mode, bare.vision_cfg.image_interpolation, bare.vision_cfg.image_mean?.[0]]).toEqual(['shortest', 'bicubic', 0.48145466]);
  });

  it('a source that does not exist, a folder without a checkpoint, a config that is not JSON', () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-oc-'));
    try {
      const none = path.join(tmp, 'none');
      expect(() => importOpenClip(none, path.join(tmp, 'o1'))).toThrow(new InteropError(`${none}: no such file or folder; pass open_clip's checkpoint file or the folder it was downloaded to`));
      const empty = path.join(tmp, 'empty');
      fs.mkdirSync(empty);
      fs.writeFileSync(path.join(empty, 'notes.txt'), 'x');
      expect(() => importOpenClip(empty, path.join(tmp, 'o2'))).toThrow(/empty holds no open_clip_model\.safetensors or .* \(nor a single \.safetensors\/\.bin\/\.pt file\); pass the checkpoint file itself$/);
      const bad = path.join(tmp, 'bad.json');
      fs.writeFileSync(bad, '{ not json');
      expect(() => importOpenClip(path.join(FX, 'views.pt'), path.join(tmp, 'o3'), bad)).toThrow(new RegExp(`^${bad.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: not readable JSON \\(.*\\); pass an open_clip model config$`));
      expect(fs.readdirSync(tmp).sort()).toEqual(['bad.json', 'empty']);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});
