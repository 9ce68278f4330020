// The page's download (src/util/zip-write.ts) against Python's zipfile, which checks each entry's
// CRC-32 and sizes as it extracts: a folder prefix, an empty file, a UTF-8 name, binary bytes.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { crc32, zipStored } from '../../src/util/zip-write.ts';

describe('zipStored', () => {
  it('CRC-32 gives the standard check value', () => {
    // The CRC catalogue's check value for CRC-32/ISO-HDLC over the ASCII digits 1..9.
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
  });

  it("unpacks with Python's zipfile into the same files", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-zip-'));
    try {
      const bin = Uint8Array.from({ length: 70_001 }, (_, i) => (i * 7919 + (i >> 3)) & 0xff);
      const files = [
        { name: 'coca-nano/model.safetensors', bytes: bin },
        { name: 'coca-nano/empty.json', bytes: new Uint8Array(0) },
        { name: 'coca-nano/légende.txt', bytes: new TextEncoder().encode('un chien sur une planche\n') },
      ];
      fs.writeFileSync(path.join(dir, 'a.zip'), zipStored(files, new Date(2026, 11, 1, 15, 47, 30)));
      const script = 'import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\nbad = z.testzip()\nassert bad is None, bad\nprint("\\n".join("%s %d %s" % (i.filename, i.file_size, i.date_time) for i in z.infolist()))\nz.extractall(sys.argv[2])';
      const listing = execFileSync('python3', ['-c', script, path.join(dir, 'a.zip'), path.join(dir, 'out')], { encoding: 'utf8' }).trim().split('\n');
      expect(listing).toEqual([
        'coca-nano/model.safetensors 70001 (2026, 12, 1, 15, 47, 30)',
        'coca-nano/empty.json 0 (2026, 12, 1, 15, 47, 30)',
        'coca-nano/légende.txt 25 (2026, 12, 1, 15, 47, 30)',
      ]);
      for (const f of files) expect(new Uint8Array(fs.readFileSync(path.join(dir, 'out', f.name)))).toEqual(f.bytes);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
