// The zip reader of src/interop/zip.ts against archives Python's zipfile wrote
// (scripts/reference/zip_fixtures.py): stored and deflated entries, entry and archive comments,
// extra fields, and zip64 (sizes, offsets and the directory's place in 8-byte fields, as torch
// writes checkpoints past 4 GiB). The mutation run found zip64 and deflate unreached by any test,
// and the damaged-archive checks untested.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InteropError } from '../../../src/interop/errors.ts';
import { ZipReader } from '../../../src/interop/zip.ts';

const FX = path.join(import.meta.dirname, '..', '..', 'fixtures', 'zip');
// What zip_fixtures.py put in each archive.
const ENTRIES: [string, number, Buffer][] = [
  ['archive/data.pkl', 0, Buffer.from(Array.from({ length: 200 }, (_, i) => i))],
  ['archive/data/0', 8, Buffer.from('coca '.repeat(60))],
  ['archive/byteorder', 0, Buffer.from('little')],
];

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-zip-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A copy of fixture `name` with `edit` applied to its bytes. */
function damaged(name: string, edit: (b: Buffer) => void): string {
  const b = fs.readFileSync(path.join(FX, name));
  edit(b);
  const f = path.join(tmp, `${Math.random().toString(36).slice(2)}-${name}`);
  fs.writeFileSync(f, b);
  return f;
}

const sig = (b: Buffer, s: number, from?: number) => {
  const le = Buffer.alloc(4);
  le.writeUInt32LE(s);
  return from === undefined ? b.lastIndexOf(le) : b.indexOf(le, from);
};
const EOCD = 0x06054b50;
const LOCATOR = 0x07064b50;
const EOCD64 = 0x06064b50;
const CENTRAL = 0x02014b50;

/** The message of the InteropError `f` throws: it names the file and says what to do. */
function refusal(f: () => unknown, file: string): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(InteropError);
    const msg = (e as Error).message;
    expect(msg.startsWith(`${file}: `)).toBe(true);
    expect(msg).toMatch(/the file is truncated or damaged: download it again$/);
    return msg;
  }
  throw new Error('no error');
}

describe('zip archives written by Python', () => {
  it.each(['plain.zip', 'zip64.zip'])('%s: every entry back, stored or deflated, past comments and extra fields', (name) => {
    const z = ZipReader.open(path.join(FX, name));
    try {
      expect([...z.entries.keys()]).toEqual(ENTRIES.map(([n]) => n));
      for (const [n, method, data] of ENTRIES) {
        expect(z.entries.get(n)).toMatchObject({ method, size: data.length });
        expect(z.read(n).equals(data), n).toBe(true);
      }
    } finally {
      z.close();
    }
  });

  it('zip64: the sizes and offsets of the 8-byte fields (as Python lists them)', () => {
    const z = ZipReader.open(path.join(FX, 'zip64.zip'));
    // zipfile.ZipFile('zip64.zip').infolist(): header_offset 0, 273, 355; compress_size 200, 11, 6.
    expect([...z.entries.values()].map((e) => [e.localHeader, e.compressedSize, e.size])).toEqual([
      [0, 200, 200],
      [273, 11, 300],
      [355, 6, 6],
    ]);
    z.close();
  });
});

describe('a damaged archive: one line naming the file and what is wrong', () => {
  const open = (f: string) => () => ZipReader.open(f).close();
  const readOf = (f: string, entry: string) => () => {
    const z = ZipReader.open(f);
    try {
      z.read(entry);
    } finally {
      z.close();
    }
  };

  it('no end record (the last bytes cut), a directory past the end, a damaged directory entry', () => {
    const cut = path.join(tmp, 'cut.zip');
    const b = fs.readFileSync(path.join(FX, 'plain.zip'));
    fs.writeFileSync(cut, b.subarray(0, b.length - 30));
    expect(refusal(open(cut), cut)).toMatch(/no zip end-of-archive record/);
    const past = damaged('plain.zip', (x) => x.writeUInt32LE(x.length - 10, sig(x, EOCD) + 16));
    expect(refusal(open(past), past)).toMatch(/its directory lies past the end of the file/);
    const entry = damaged('plain.zip', (x) => x.writeUInt32LE(0, sig(x, CENTRAL, sig(x, CENTRAL, 0) + 4)));
    expect(refusal(open(entry), entry)).toMatch(/entry 1 of its directory is damaged/);
    // The directory claims one more entry than it holds.
    const more = damaged('plain.zip', (x) => x.writeUInt16LE(4, sig(x, EOCD) + 10));
    expect(refusal(open(more), more)).toMatch(/entry 3 of its directory is damaged/);
  });

  it('zip64 without its locator or its end record', () => {
    const noLocator = damaged('zip64.zip', (x) => x.writeUInt32LE(0, sig(x, LOCATOR)));
    expect(refusal(open(noLocator), noLocator)).toMatch(/a zip64 archive without its locator/);
    const noRecord = damaged('zip64.zip', (x) => x.writeUInt32LE(0, sig(x, EOCD64)));
    expect(refusal(open(noRecord), noRecord)).toMatch(/a zip64 archive without its end record/);
  });

  it('a missing entry, a damaged local header, an entry running past the end, a compression torch never uses, data that does not inflate', () => {
    const plain = path.join(FX, 'plain.zip');
    expect(refusal(readOf(plain, 'archive/nope'), plain)).toMatch(/no entry archive\/nope/);
    const header = damaged('plain.zip', (x) => x.writeUInt32LE(0, 0));
    expect(refusal(readOf(header, 'archive/data.pkl'), header)).toMatch(/the header of archive\/data\.pkl is damaged/);
    // data.pkl's compressed size in its directory entry (offset 20) made larger than the file.
    const long = damaged('plain.zip', (x) => x.writeUInt32LE(100_000, sig(x, CENTRAL, 0) + 20));
    expect(refusal(readOf(long, 'archive/data.pkl'), long)).toMatch(/archive\/data\.pkl runs past the end of the file/);
    // Method 12 (bzip2) in the directory entry of data/0 (offset 10).
    const bzip = damaged('plain.zip', (x) => x.writeUInt16LE(12, sig(x, CENTRAL, sig(x, CENTRAL, 0) + 4) + 10));
    expect(refusal(readOf(bzip, 'archive/data/0'), bzip)).toMatch(/archive\/data\/0 uses zip compression method 12, which torch\.save never writes/);
    // The deflated bytes of data/0 (after its 30-byte local header, name and extra) overwritten.
    const bad = damaged('plain.zip', (x) => {
      const at = x.indexOf(Buffer.from('archive/data/0')) + 'archive/data/0'.length + 7;
      x.fill(0xff, at, at + 6);
    });
    expect(refusal(readOf(bad, 'archive/data/0'), bad)).toMatch(/archive\/data\/0 does not inflate/);
    // Undamaged, the same reads succeed.
    expect(() => readOf(plain, 'archive/data/0')()).not.toThrow();
  });
});
