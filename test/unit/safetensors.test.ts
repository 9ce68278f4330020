// safetensors reader/writer: round trips every dtype, reads a file laid out by hand from the
// spec, rejects corrupt files with one line, and never leaves a half-written file behind.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SafetensorsError } from '../../src/model/errors.ts';
import { parseSafetensors, readSafetensors, serializeSafetensors, writeSafetensors, type TensorIn } from '../../src/model/safetensors.ts';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-st-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const sample = (): Record<string, TensorIn> => ({
  'a.weight': { shape: [2, 3], data: new Float32Array([1, -2, 3.5, 1e-30, -0, 7]) },
  f64: { shape: [2], data: new Float64Array([Math.PI, -1e300]) },
  ids: { shape: [1, 3], data: new Int32Array([0, -5, 2 ** 31 - 1]) },
  big: { shape: [2], data: new BigInt64Array([-(2n ** 62n), 42n]) },
  bytes: { shape: [3], data: new Uint8Array([0, 128, 255]) },
  i8: { shape: [2], data: new Int8Array([-128, 127]) },
  i16: { shape: [1], data: new Int16Array([-300]) },
  half: { dtype: 'F16', shape: [2], data: new Uint16Array([0x3c00, 0xc000]) },
  flags: { dtype: 'BOOL', shape: [2], data: new Uint8Array([1, 0]) },
  scalar: { shape: [], data: new Float32Array([2.5]) },
  empty: { shape: [0, 4], data: new Float32Array(0) },
});

function expectOneLine(fn: () => unknown, re: RegExp): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(SafetensorsError);
  const msg = (err as Error).message;
  expect(msg).toMatch(re);
  expect(msg).not.toContain('\n');
}

describe('safetensors round trip', () => {
  it('writes and reads back every dtype, shape and the metadata', () => {
    const file = path.join(dir, 'm.safetensors');
    const input = sample();
    writeSafetensors(file, input, { format: 'test', note: 'ünïcode' });
    const { tensors, metadata } = readSafetensors(file);
    expect(metadata).toEqual({ format: 'test', note: 'ünïcode' });
    expect([...tensors.keys()]).toEqual(Object.keys(input));
    for (const [name, t] of Object.entries(input)) {
      const got = tensors.get(name)!;
      expect(got.shape).toEqual(t.shape);
      expect(got.data.constructor).toBe(t.data.constructor);
      expect(Array.from(got.data as ArrayLike<number | bigint>)).toEqual(Array.from(t.data as ArrayLike<number | bigint>));
    }
    expect(tensors.get('half')!.dtype).toBe('F16');
    expect(tensors.get('flags')!.dtype).toBe('BOOL');
    expect(tensors.get('big')!.dtype).toBe('I64');
  });

  it('pads the header so the data starts 8-byte aligned, and parses from an unaligned buffer', () => {
    const bytes = serializeSafetensors(sample());
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect((8 + n) % 8).toBe(0);
    const shifted = new Uint8Array(bytes.length + 3);
    shifted.set(bytes, 3);
    const t = parseSafetensors(shifted.subarray(3)).tensors.get('a.weight')!;
    expect(Array.from(t.data as Float32Array)).toEqual([1, -2, 3.5, Math.fround(1e-30), -0, 7]);
  });

  it('reads a file laid out by hand from the format description', () => {
    const header = JSON.stringify({ x: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, n: { dtype: 'I64', shape: [], data_offsets: [8, 16] } });
    const buf = Buffer.alloc(8 + header.length + 16);
    buf.writeBigUInt64LE(BigInt(header.length), 0);
    buf.write(header, 8);
    buf.writeFloatLE(1.5, 8 + header.length);
    buf.writeFloatLE(-3, 12 + header.length);
    buf.writeBigInt64LE(-7n, 16 + header.length);
    const { tensors, metadata } = parseSafetensors(buf);
    expect(metadata).toEqual({});
    expect(Array.from(tensors.get('x')!.data as Float32Array)).toEqual([1.5, -3]);
    expect((tensors.get('n')!.data as BigInt64Array)[0]).toBe(-7n);
  });

  it('refuses a tensor whose data does not fit its shape or dtype', () => {
    expectOneLine(() => serializeSafetensors({ w: { shape: [2, 2], data: new Float32Array(3) } }), /tensor w: 3 elements for shape \[2,2\]/);
    expectOneLine(() => serializeSafetensors({ w: { dtype: 'I32', shape: [1], data: new Float32Array(1) } }), /dtype I32 does not match/);
    expectOneLine(() => serializeSafetensors({ w: { shape: [1], data: new Uint16Array(1) } }), /ambiguous/);
  });
});

describe('safetensors corrupt files', () => {
  const good = (): Uint8Array => serializeSafetensors(sample(), { k: 'v' });
  const withHeader = (header: object, data: Uint8Array): Uint8Array => {
    const h = new TextEncoder().encode(JSON.stringify(header));
    const out = new Uint8Array(8 + h.length + data.length);
    new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
    out.set(h, 8);
    out.set(data, 8 + h.length);
    return out;
  };

  it('names the file and says truncated when bytes are missing', () => {
    const file = path.join(dir, 'cut.safetensors');
    const bytes = good();
    fs.writeFileSync(file, bytes.subarray(0, bytes.length - 5));
    expectOneLine(() => readSafetensors(file), new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: .*truncated`));
    expectOneLine(() => parseSafetensors(bytes.subarray(0, 5)), /too short/);
    expectOneLine(() => parseSafetensors(bytes.subarray(0, 40)), /runs past the end/);
  });

  it('rejects foreign files, bad JSON and impossible headers', () => {
    expectOneLine(() => parseSafetensors(new TextEncoder().encode('PK\x03\x04 this is a zip file really')), /implausible|past the end/);
    const bad = good();
    bad[8] = 0x78; // 'x' where the JSON object opens
    expectOneLine(() => parseSafetensors(bad), /not valid JSON/);
    expectOneLine(() => parseSafetensors(withHeader({ x: { dtype: 'Q8', shape: [1], data_offsets: [0, 1] } }, new Uint8Array(1))), /unsupported dtype "Q8"/);
    expectOneLine(() => parseSafetensors(withHeader({ x: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, new Uint8Array(8))), /8 bytes of data for F32 \[3\], which needs 12/);
    expectOneLine(() => parseSafetensors(withHeader({ x: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, new Uint8Array(4))), /shape must be/);
  });

  it('rejects gaps, overlaps and trailing bytes in the data', () => {
    const gap = { a: { dtype: 'U8', shape: [2], data_offsets: [0, 2] }, b: { dtype: 'U8', shape: [2], data_offsets: [3, 5] } };
    expectOneLine(() => parseSafetensors(withHeader(gap, new Uint8Array(5))), /tensor b: .*gap/);
    const overlap = { a: { dtype: 'U8', shape: [2], data_offsets: [0, 2] }, b: { dtype: 'U8', shape: [2], data_offsets: [1, 3] } };
    expectOneLine(() => parseSafetensors(withHeader(overlap, new Uint8Array(3))), /overlap/);
    const trailing = { a: { dtype: 'U8', shape: [2], data_offsets: [0, 2] } };
    expectOneLine(() => parseSafetensors(withHeader(trailing, new Uint8Array(6))), /4 bytes after the last tensor/);
    expectOneLine(() => parseSafetensors(withHeader({ __metadata__: { n: 3 } }, new Uint8Array(0))), /__metadata__/);
  });

  it('says so for a missing file', () => {
    expectOneLine(() => readSafetensors(path.join(dir, 'nope.safetensors')), /nope\.safetensors: cannot read \(ENOENT\)/);
  });
});

describe('safetensors atomic write', () => {
  it('leaves the previous file intact and no temp file when a write fails', () => {
    const file = path.join(dir, 'model.safetensors');
    writeSafetensors(file, { w: { shape: [2], data: new Float32Array([1, 2]) } });
    const before = fs.readFileSync(file);
    expect(() => writeSafetensors(file, { w: { shape: [3], data: new Float32Array([1, 2]) } })).toThrow(SafetensorsError);
    expect(fs.readFileSync(file).equals(before)).toBe(true);
    expect(fs.readdirSync(dir)).toEqual(['model.safetensors']);
  });

  it('cleans up its temp file when the final rename fails', () => {
    const target = path.join(dir, 'taken');
    fs.mkdirSync(target);
    fs.writeFileSync(path.join(target, 'keep'), 'x'); // a non-empty folder cannot be renamed over
    expectOneLine(() => writeSafetensors(target, sample()), /taken: cannot write .*nothing was changed/);
    expect(fs.readdirSync(dir)).toEqual(['taken']);
    expect(fs.readdirSync(target)).toEqual(['keep']);
  });

  it('replaces an existing file in one step', () => {
    const file = path.join(dir, 'model.safetensors');
    writeSafetensors(file, { w: { shape: [1], data: new Float32Array([1]) } });
    writeSafetensors(file, { w: { shape: [1], data: new Float32Array([2]) } });
    expect(Array.from(readSafetensors(file).tensors.get('w')!.data as Float32Array)).toEqual([2]);
    expect(fs.readdirSync(dir)).toEqual(['model.safetensors']);
  });
});
