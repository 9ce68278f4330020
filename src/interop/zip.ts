// The zip archives torch.save writes (PyTorch ≥ 1.6): entries stored (or deflated), zip64 when
// large. Only the central directory is read up front; an entry's bytes are read from the file when
// asked for, so a multi-gigabyte checkpoint is never held whole in memory.
import fs from 'node:fs';
import zlib from 'node:zlib';
import { InteropError } from './errors.ts';

export interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  localHeader: number;
}

const EOCD = 0x06054b50;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EOCD = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

function readAt(fd: number, pos: number, n: number): Buffer {
  const b = Buffer.alloc(n);
  let got = 0;
  while (got < n) {
    const k = fs.readSync(fd, b, got, n - got, pos + got);
    if (k === 0) break;
    got += k;
  }
  return got === n ? b : b.subarray(0, got);
}

export class ZipReader {
  readonly entries = new Map<string, ZipEntry>();

  private constructor(
    private readonly fd: number,
    private readonly file: string,
    readonly bytes: number,
  ) {}

  static open(file: string): ZipReader {
    const fd = fs.openSync(file, 'r');
    try {
      const z = new ZipReader(fd, file, fs.fstatSync(fd).size);
      z.readDirectory();
      return z;
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }

  close(): void {
    fs.closeSync(this.fd);
  }

  private fail(why: string): never {
    throw new InteropError(`${this.file}: ${why}; the file is truncated or damaged: download it again`);
  }

  private readDirectory(): void {
    const tailLen = Math.min(this.bytes, 22 + 0xffff);
    const tail = readAt(this.fd, this.bytes - tailLen, tailLen);
    let at = -1;
    for (let i = tail.length - 22; i >= 0; i--) {
      if (tail.readUInt32LE(i) === EOCD) {
        at = i;
        break;
      }
    }
    if (at < 0) this.fail('no zip end-of-archive record');
    let count = tail.readUInt16LE(at + 10);
    let cdSize = tail.readUInt32LE(at + 12);
    let cdOffset = tail.readUInt32LE(at + 16);
    if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
      const locAt = at - 20;
      if (locAt < 0 || tail.readUInt32LE(locAt) !== ZIP64_LOCATOR) this.fail('a zip64 archive without its locator');
      const eocd64 = Number(tail.readBigUInt64LE(locAt + 8));
      const rec = readAt(this.fd, eocd64, 56);
      if (rec.length < 56 || rec.readUInt32LE(0) !== ZIP64_EOCD) this.fail('a zip64 archive without its end record');
      count = Number(rec.readBigUInt64LE(32));
      cdSize = Number(rec.readBigUInt64LE(40));
      cdOffset = Number(rec.readBigUInt64LE(48));
    }
    if (cdOffset + cdSize > this.bytes) this.fail('its directory lies past the end of the file');
    const cd = readAt(this.fd, cdOffset, cdSize);
    let p = 0;
    for (let i = 0; i < count; i++) {
      if (p + 46 > cd.length || cd.readUInt32LE(p) !== CENTRAL) this.fail(`entry ${i} of its directory is damaged`);
      const method = cd.readUInt16LE(p + 10);
      let compressedSize = cd.readUInt32LE(p + 20);
      let size = cd.readUInt32LE(p + 24);
      const nameLen = cd.readUInt16LE(p + 28);
      const extraLen = cd.readUInt16LE(p + 30);
      const commentLen = cd.readUInt16LE(p + 32);
      let localHeader = cd.readUInt32LE(p + 42);
      const name = cd.toString('utf8', p + 46, p + 46 + nameLen);
      // zip64 extra field: the 8-byte values of whichever fields above are saturated, in this order.
      for (let e = p + 46 + nameLen; e + 4 <= p + 46 + nameLen + extraLen; ) {
        const id = cd.readUInt16LE(e);
        const len = cd.readUInt16LE(e + 2);
        if (id === 0x0001) {
          let q = e + 4;
          if (size === 0xffffffff) (size = Number(cd.readBigUInt64LE(q))), (q += 8);
          if (compressedSize === 0xffffffff) (compressedSize = Number(cd.readBigUInt64LE(q))), (q += 8);
          if (localHeader === 0xffffffff) localHeader = Number(cd.readBigUInt64LE(q));
        }
        e += 4 + len;
      }
      this.entries.set(name, { name, method, compressedSize, size, localHeader });
      p += 46 + nameLen + extraLen + commentLen;
    }
  }

  /** The entry's bytes, checked to lie inside the file. */
  read(name: string): Buffer {
    const e = this.entries.get(name);
    if (!e) this.fail(`no entry ${name}`);
    const head = readAt(this.fd, e.localHeader, 30);
    if (head.length < 30 || head.readUInt32LE(0) !== LOCAL) this.fail(`the header of ${name} is damaged`);
    const start = e.localHeader + 30 + head.readUInt16LE(26) + head.readUInt16LE(28);
    if (start + e.compressedSize > this.bytes) this.fail(`${name} runs past the end of the file`);
    const raw = readAt(this.fd, start, e.compressedSize);
    if (e.method === 0) return raw;
    if (e.method === 8) {
      try {
        return zlib.inflateRawSync(raw);
      } catch {
        this.fail(`${name} does not inflate`);
      }
    }
    this.fail(`${name} uses zip compression method ${e.method}, which torch.save never writes`);
  }
}
