// readStateDict's first-bytes sniffing (src/interop/state-dict.ts) on files of 2 to 16 bytes, and
// DDP's `module.` prefix dropped only when every name has it: the cases docs/mutation.md's fourth
// pass left "untested". The formats' first bytes: zip "PK\3\4"; safetensors an 8-byte header
// length then "{"; a legacy torch.save pickle 0x80 then protocol 2..5.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InteropError } from '../../../src/interop/errors.ts';
import { readStateDict } from '../../../src/interop/state-dict.ts';
import { writeSafetensors } from '../../../src/model/safetensors.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-sniff-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
let n = 0;
const file = (bytes: number[] | Buffer) => {
  const f = path.join(dir, `${n++}.bin`);
  fs.writeFileSync(f, Buffer.from(bytes));
  return f;
};
const neither = (f: string, why: string) => new InteropError(`${f} is neither safetensors nor a PyTorch zip archive (${why}); pass open_clip_model.safetensors, open_clip_pytorch_model.bin or a .pt checkpoint`);
const legacy = (f: string) => new InteropError(`${f} is in PyTorch's legacy format (torch < 1.6), which can only be read by running it; re-save it in torch ≥ 1.6 with torch.save(torch.load(f, weights_only=True), f2)`);

describe('readStateDict: what the first bytes say', () => {
  it('three bytes of a zip signature: too short, not a zip (and no RangeError)', () => {
    const f = file([0x50, 0x4b, 0x03]);
    expect(() => readStateDict(f)).toThrow(neither(f, 'too short; truncated?'));
  });

  it('four bytes of a zip signature: read as a zip (whose reader then finds no end record)', () => {
    const f = file([0x50, 0x4b, 0x03, 0x04]);
    expect(() => readStateDict(f)).toThrow(new InteropError(`${f}: no zip end-of-archive record; the file is truncated or damaged: download it again`));
  });

  it('nine bytes ending in "{": read as safetensors (whose own reader then names the header)', () => {
    const f = file([1, 0, 0, 0, 0, 0, 0, 0, 0x7b]);
    expect(() => readStateDict(f)).toThrow(/^\S+: header is not valid JSON .*not a safetensors file/);
  });

  it('0x80 then a pickle protocol of 2 to 5 is legacy torch.save, from two bytes on; protocol 6 is not', () => {
    for (const p of [2, 5]) {
      const f = file([0x80, p]);
      expect(() => readStateDict(f), `protocol ${p}`).toThrow(legacy(f));
    }
    const six = file([0x80, 6]);
    expect(() => readStateDict(six)).toThrow(neither(six, 'too short; truncated?'));
  });

  it('unknown bytes: too short below 16 bytes, unknown from 16 on', () => {
    const f15 = file(Array(15).fill(1));
    expect(() => readStateDict(f15)).toThrow(neither(f15, 'too short; truncated?'));
    const f16 = file(Array(16).fill(1));
    expect(() => readStateDict(f16)).toThrow(neither(f16, 'unknown first bytes'));
  });
});

describe("DDP's module. prefix", () => {
  const t = { shape: [1], data: new Float32Array([1]) };
  it('is dropped when every name carries it, and kept when only some do', () => {
    const all = path.join(dir, 'all.safetensors');
    writeSafetensors(all, { 'module.a': t, 'module.b.w': t });
    expect([...readStateDict(all).keys()].sort()).toEqual(['a', 'b.w']);
    const some = path.join(dir, 'some.safetensors');
    writeSafetensors(some, { 'module.a': t, b: t });
    expect([...readStateDict(some).keys()].sort()).toEqual(['b', 'module.a']);
  });
});
