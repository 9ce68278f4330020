// src/interop/zip.ts on archives laid out byte by byte here (PKWARE's APPNOTE 4.3: local header,
// central directory, zip64 end record and locator, end record), in the corners docs/mutation.md's
// fourth pass left "untested": an archive that is only its end record, zip64 with one saturated
// field of three, records cut by the end of the file, a foreign extra field before the zip64 one.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InteropError } from '../../../src/interop/errors.ts';
import { ZipReader } from '../../../src/interop/zip.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-zip-layout-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
let n = 0;
const file = (bytes: Buffer) => {
  const f = path.join(dir, `${n++}.zip`);
  fs.writeFileSync(f, bytes);
  return f;
};

/** Little-endian fields: [width in bytes, value]. */
const le = (...fields: [number, number | bigint][]) =>
  Buffer.concat(
    fields.map(([w, v]) => {
      const b = Buffer.alloc(w);
      if (w === 8) b.writeBigUInt64LE(BigInt(v));
      else if (w === 4) b.writeUInt32LE(Number(v));
      else b.writeUInt16LE(Number(v));
      return b;
    }),
  );
const SAT32 = 0xffffffff;

interface Entry {
  name: string;
  data: Buffer;
  /** The central directory's sizes and offset as written (saturated to send the reader to the zip64 field). */
  size?: number;
  compressed?: number;
  offset?: number;
  extra?: Buffer;
}

/** Local headers and data, then the central directory; returns the bytes and where the directory starts. */
function body(entries: Entry[]): { bytes: Buffer; cdOffset: number; cdSize: number } {
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let at = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name);
    const local = Buffer.concat([le([4, 0x04034b50], [2, 20], [2, 0], [2, 0], [2, 0], [2, 0], [4, 0], [4, e.data.length], [4, e.data.length], [2, name.length], [2, 0]), name, e.data]);
    const extra = e.extra ?? Buffer.alloc(0);
    central.push(
      Buffer.concat([
        le([4, 0x02014b50], [2, 45], [2, 45], [2, 0], [2, 0], [2, 0], [2, 0], [4, 0], [4, e.compressed ?? e.data.length], [4, e.size ?? e.data.length], [2, name.length], [2, extra.length], [2, 0], [2, 0], [2, 0], [4, 0], [4, e.offset ?? at]),
        name,
        extra,
      ]),
    );
    parts.push(local);
    at += local.length;
  }
  const cd = Buffer.concat(central);
  return { bytes: Buffer.concat([...parts, cd]), cdOffset: at, cdSize: cd.length };
}
const eocd = (count: number, cdSize: number, cdOffset: number, comment = Buffer.alloc(0)) => Buffer.concat([le([4, 0x06054b50], [2, 0], [2, 0], [2, count], [2, count], [4, cdSize], [4, cdOffset], [2, comment.length]), comment]);
const zip64Record = (count: number, cdSize: number, cdOffset: number) => le([4, 0x06064b50], [8, 44], [2, 45], [2, 45], [4, 0], [4, 0], [8, count], [8, count], [8, cdSize], [8, cdOffset]);
const locator = (recordAt: number) => le([4, 0x07064b50], [4, 0], [8, recordAt], [4, 1]);

const damaged = (f: string, why: string) => new InteropError(`${f}: ${why}; the file is truncated or damaged: download it again`);

describe('zip layouts', () => {
  it('an archive that is nothing but its end record (what Python writes for no entries) has no entries', () => {
    const z = ZipReader.open(file(eocd(0, 0, 0)));
    expect(z.entries.size).toBe(0);
    z.close();
  });

  it('zip64 when any one of the three end-record fields is saturated, the others real', () => {
    const { bytes, cdOffset, cdSize } = body([{ name: 'a/data.pkl', data: Buffer.from('hello') }]);
    const cases: [string, number, number, number][] = [
      ['count', 0xffff, cdSize, cdOffset],
      ['size', 1, SAT32, cdOffset],
      ['offset', 1, cdSize, SAT32],
    ];
    for (const [which, count, size, offset] of cases) {
      const recordAt = bytes.length;
      const f = file(Buffer.concat([bytes, zip64Record(1, cdSize, cdOffset), locator(recordAt), eocd(count, size, offset)]));
      const z = ZipReader.open(f);
      expect([...z.entries.keys()], which).toEqual(['a/data.pkl']);
      expect(z.read('a/data.pkl').toString(), which).toBe('hello');
      z.close();
    }
  });

  it('a zip64 locator at the very start of the file is found', () => {
    // locator (20 bytes) at 0, end record at 20, the zip64 record after it (its own place, at 42).
    const f = file(Buffer.concat([locator(42), eocd(0xffff, 0, 0), zip64Record(0, 0, 0)]));
    const z = ZipReader.open(f);
    expect(z.entries.size).toBe(0);
    z.close();
  });

  it('a saturated end record with no room for a locator before it: the one line, not a RangeError', () => {
    const f = file(eocd(0xffff, 0, 0));
    expect(() => ZipReader.open(f)).toThrow(damaged(f, 'a zip64 archive without its locator'));
  });

  it('a zip64 end record cut by the end of the file: the one line', () => {
    // The locator points into the end record's comment, where a zip64 signature starts 12 bytes before the end.
    const comment = Buffer.concat([le([4, 0x06064b50]), Buffer.alloc(8)]);
    const f = file(Buffer.concat([locator(42), eocd(0xffff, 0, 0, comment)]));
    expect(() => ZipReader.open(f)).toThrow(damaged(f, 'a zip64 archive without its end record'));
  });

  it("an entry's local header cut by the end of the file: the one line", () => {
    // The directory names a local header 12 bytes before the end (inside the end record's comment).
    const { bytes, cdSize } = body([{ name: 'x', data: Buffer.from('12345'), offset: 0 }]);
    const comment = Buffer.concat([le([4, 0x04034b50]), Buffer.alloc(8)]);
    const total = bytes.length + 22 + comment.length;
    const patched = body([{ name: 'x', data: Buffer.from('12345'), offset: total - comment.length }]);
    const f = file(Buffer.concat([patched.bytes, eocd(1, cdSize, patched.cdOffset, comment)]));
    expect(() => ZipReader.open(f).read('x')).toThrow(damaged(f, 'the header of x is damaged'));
  });

  it('a foreign extra field before the zip64 one is stepped over by its own length', () => {
    // Info-ZIP's extended timestamp (0x5455, 5 bytes), then zip64 (0x0001) with the size and the compressed size.
    const extra = Buffer.concat([le([2, 0x5455], [2, 5]), Buffer.from([1, 2, 3, 4, 5]), le([2, 0x0001], [2, 16], [8, 5], [8, 5])]);
    const { bytes, cdOffset, cdSize } = body([{ name: 'a', data: Buffer.from('hello'), size: SAT32, compressed: SAT32, extra }]);
    const z = ZipReader.open(file(Buffer.concat([bytes, eocd(1, cdSize, cdOffset)])));
    expect(z.entries.get('a')).toEqual({ name: 'a', method: 0, compressedSize: 5, size: 5, localHeader: 0 });
    expect(z.read('a').toString()).toBe('hello');
    z.close();
  });
});
