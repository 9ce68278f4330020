// `coca data shards` (src/data/shard-writer.ts) against its header, reading the tars back with
// tar-stream rather than through coca's reader: members `<key>.<ext>`, `<key>.txt`, `<key>.json`
// in that order; keys zero-padded to 6 digits, shard names to 5; pictures in an open format copied
// byte for byte, others and a built set's rasters (at its largest size) as PNG; a seeded order per
// split or the dataset's; an earlier run's shards removed, nothing else; the tokenizer and
// shards.json beside them. Expected values written out by hand.
import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import sharp from 'sharp';
import tar from 'tar-stream';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { FORMAT, FORMAT_VERSION, ImageWriter, imageFile, writeItems } from '../../../src/data/store.ts';
import { sampleJson, writeShards } from '../../../src/data/shard-writer.ts';
import type { Dataset } from '../../../src/data/dataset.ts';
import { MemoryDataset, patternPixels, tempDir, writeCorrupt, writeImage } from '../data/fixtures.ts';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
const newDir = () => {
  const d = tempDir('coca-shardw-');
  dirs.push(d);
  return d;
};

async function members(file: string): Promise<{ name: string; data: Buffer }[]> {
  const out: { name: string; data: Buffer }[] = [];
  const ex = tar.extract();
  const done = new Promise<void>((resolve, reject) => {
    ex.on('entry', (h, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: unknown) => chunks.push(c as Buffer));
      stream.on('end', () => {
        out.push({ name: h.name, data: Buffer.concat(chunks) });
        next();
      });
    });
    ex.on('finish', resolve);
    ex.on('error', reject);
  });
  ex.end(fs.readFileSync(file));
  await done;
  return out;
}

/** A user's folder: a.png, b.JPG, c.tiff (not an open format), captions.tsv; tokenizer.json beside. */
async function userFolder(): Promise<string> {
  const dir = newDir();
  await writeImage(path.join(dir, 'a.png'), 5, 4, 1);
  await sharp(Buffer.from(patternPixels(6, 3, 2)), { raw: { width: 6, height: 3, channels: 3 } }).jpeg().toFile(path.join(dir, 'b.JPG'));
  await sharp(Buffer.from(patternPixels(3, 2, 3)), { raw: { width: 3, height: 2, channels: 3 } }).tiff({ compression: 'lzw' }).toFile(path.join(dir, 'c.tiff'));
  fs.writeFileSync(path.join(dir, 'captions.tsv'), 'a.png\tfirst  Caption\na.png\tsecond one\nb.JPG\tbee\nc.tiff\tsee\n');
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), '{"stand-in": true}');
  return dir;
}

describe('writeShards', () => {
  it('keeps the dataset’s order when told: members in order, pictures copied or made PNG, captions one a line', async () => {
    const src = await userFolder();
    const out = path.join(newDir(), 'out');
    const lines: string[] = [];
    const info = await writeShards(src, out, { perShard: 2, shuffle: false, splits: ['all'], log: (l) => lines.push(l) });
    expect(info).toEqual({ format: 'coca-shards', source: src, splits: { all: { samples: 3, shards: 2 } } });
    expect(lines).toEqual([`all: 3 samples in 2 shards → ${path.join(out, 'all')}`]);
    expect(fs.readdirSync(path.join(out, 'all'))).toEqual(['00000.tar', '00001.tar']);
    const first = await members(path.join(out, 'all', '00000.tar'));
    expect(first.map((m) => m.name)).toEqual(['000000.png', '000000.txt', '000000.json', '000001.jpg', '000001.txt', '000001.json']);
    expect(first[0]!.data.equals(fs.readFileSync(path.join(src, 'a.png')))).toBe(true);
    expect(first[3]!.data.equals(fs.readFileSync(path.join(src, 'b.JPG')))).toBe(true);
    expect(first[1]!.data.toString()).toBe('first caption\nsecond one');
    expect(JSON.parse(first[2]!.data.toString())).toEqual({ id: path.join(src, 'a.png'), caption: 'first caption', captions: ['first caption', 'second one'] });
    const second = await members(path.join(out, 'all', '00001.tar'));
    expect(second.map((m) => m.name)).toEqual(['000002.png', '000002.txt', '000002.json']);
    // The TIFF, not an open format, as PNG of the same pixels.
    const { data, info: png } = await sharp(second[0]!.data).raw().toBuffer({ resolveWithObject: true });
    expect([png.format, png.width, png.height]).toEqual(['raw', 3, 2]);
    expect((await sharp(second[0]!.data).metadata()).format).toBe('png');
    expect(Array.from(data)).toEqual(Array.from(patternPixels(3, 2, 3)));
    // The tokenizer beside the data, and shards.json (two-space indent, a final newline).
    expect(fs.readFileSync(path.join(out, 'tokenizer.json'), 'utf8')).toBe('{"stand-in": true}');
    expect(fs.readFileSync(path.join(out, 'shards.json'), 'utf8')).toBe(JSON.stringify(info, null, 2) + '\n');
    // No temporary file left.
    expect(fs.readdirSync(path.join(out, 'all')).filter((n) => n.includes('.tmp-'))).toEqual([]);
  });

  it('a folder named like a shard in the output is refused in one line, and no earlier shard is removed', async () => {
    const src = await userFolder();
    const out = path.join(newDir(), 'out');
    await writeShards(src, out, { perShard: 100, seed: 1, splits: ['all'] });
    fs.mkdirSync(path.join(out, 'all', '00007.tar'));
    fs.writeFileSync(path.join(out, 'all', '00007.tar', 'keep.txt'), 'mine');
    await expect(writeShards(src, out, { perShard: 100, seed: 1, splits: ['all'] })).rejects.toThrow(/^\S+00007\.tar is not a shard file coca wrote \(a folder or link\); move it out of \S+ and run again$/);
    expect(fs.readdirSync(path.join(out, 'all')).sort()).toEqual(['00000.tar', '00007.tar']);
    expect(fs.readFileSync(path.join(out, 'all', '00007.tar', 'keep.txt'), 'utf8')).toBe('mine');
  });

  it('shuffles each split by a seed: the same seed the same order, one shard named 00000 however many samples', async () => {
    const src = newDir();
    const lines: string[] = [];
    for (let i = 0; i < 12; i++) {
      await writeImage(path.join(src, `p${i}.png`), 3, 3, i);
      lines.push(`p${i}.png\tpicture ${i}`);
    }
    fs.writeFileSync(path.join(src, 'captions.tsv'), lines.join('\n'));
    const order = async (seed: number) => {
      const out = path.join(newDir(), 'o');
      const log: string[] = [];
      await writeShards(src, out, { perShard: 100, seed, splits: ['all'], log: (l) => log.push(l) });
      expect(log).toEqual([`all: 12 samples in 1 shard → ${path.join(out, 'all')}`]);
      expect(fs.readdirSync(path.join(out, 'all'))).toEqual(['00000.tar']);
      return (await members(path.join(out, 'all', '00000.tar'))).filter((m) => m.name.endsWith('.txt')).map((m) => m.data.toString());
    };
    const a = await order(3);
    expect(a).toHaveLength(12);
    expect([...a].sort()).toEqual(Array.from({ length: 12 }, (_, i) => `picture ${i}`).sort());
    expect(a).not.toEqual(Array.from({ length: 12 }, (_, i) => `picture ${i}`));
    expect(await order(3)).toEqual(a);
    expect(await order(4)).not.toEqual(a);
  });

  it('writes a built set’s rasters at its largest size as PNG, with its statistics and classes, skipping no split', async () => {
    const src = newDir();
    fs.mkdirSync(src, { recursive: true });
    for (const size of [2, 4]) {
      const w = new ImageWriter(imageFile(src, 'test', size), size);
      w.write(new Uint8Array(size * size * 3).fill(200), 0);
      w.write(new Uint8Array(size * size * 3).fill(50), 1);
      w.close();
    }
    writeItems(src, 'test', [
      { id: 'x0', captions: ['zero'], label: 0, style: 's', group: 'g' },
      { id: 'x1', captions: ['one'], label: 1 },
    ]);
    const manifest = {
      format: FORMAT, version: FORMAT_VERSION, name: 'b', imageSizes: [2, 4], splits: { test: { count: 2, about: '' } }, classes: { test: ['c0', 'c1'] },
      mean: [0.1, 0.2, 0.3], std: [0.4, 0.5, 0.6], seed: 0, sources: [], build: { seconds: 0, bytes: 0, skipped: 0, at: '', preset: '' }, tokenizer: { file: 'tokenizer.json', vocabSize: 0 },
    };
    fs.writeFileSync(path.join(src, 'manifest.json'), JSON.stringify(manifest));
    const out = path.join(newDir(), 'o');
    const info = await writeShards(src, out, { perShard: 5, shuffle: false });
    expect(info).toEqual({ format: 'coca-shards', source: src, mean: [0.1, 0.2, 0.3], std: [0.4, 0.5, 0.6], splits: { test: { samples: 2, shards: 1, classes: ['c0', 'c1'] } } });
    expect(fs.existsSync(path.join(out, 'tokenizer.json'))).toBe(false);
    const m = await members(path.join(out, 'test', '00000.tar'));
    expect(m.map((x) => x.name)).toEqual(['000000.png', '000000.txt', '000000.json', '000001.png', '000001.txt', '000001.json']);
    const { data, info: px } = await sharp(m[3]!.data).raw().toBuffer({ resolveWithObject: true });
    expect([px.width, px.height]).toEqual([4, 4]);
    expect(Array.from(data).every((v) => v === 50)).toBe(true);
    expect(JSON.parse(m[2]!.data.toString())).toEqual({ id: 'x0', caption: 'zero', captions: ['zero'], style: 's', group: 'g', label: 0 });
    expect(JSON.parse(m[5]!.data.toString())).toEqual({ id: 'x1', caption: 'one', captions: ['one'], label: 1 });
  });

  it('re-shards shards: pictures copied from the members, the tokenizer from beside them', async () => {
    const src = await userFolder();
    const first = path.join(newDir(), 'first');
    await writeShards(src, first, { perShard: 2, shuffle: false, splits: ['all'] });
    const again = path.join(newDir(), 'again');
    const info = await writeShards(path.join(first, 'all'), again, { perShard: 5, shuffle: false, splits: ['all'] });
    expect(info.splits).toEqual({ all: { samples: 3, shards: 1 } });
    const m = await members(path.join(again, 'all', '00000.tar'));
    expect(m.map((x) => x.name)).toEqual(['000000.png', '000000.txt', '000000.json', '000001.jpg', '000001.txt', '000001.json', '000002.png', '000002.txt', '000002.json']);
    expect(m[3]!.data.equals(fs.readFileSync(path.join(src, 'b.JPG')))).toBe(true);
    expect(fs.readFileSync(path.join(again, 'tokenizer.json'), 'utf8')).toBe('{"stand-in": true}');
  });

  it('removes an earlier run’s shards and emptied split folders, nothing else; skips an empty hashed split unless it was asked for', async () => {
    const src = await userFolder();
    const out = newDir();
    fs.mkdirSync(path.join(out, 'old'));
    for (const f of ['00000.tar', '00001.tar.tmp-123']) fs.writeFileSync(path.join(out, 'old', f), 'x');
    fs.mkdirSync(path.join(out, 'kept'));
    fs.writeFileSync(path.join(out, 'kept', '00000.tar'), 'x');
    fs.writeFileSync(path.join(out, 'kept', 'notes.md'), 'mine');
    fs.writeFileSync(path.join(out, 'top.tar'), 'x');
    const info = await writeShards(src, out, { perShard: 5 });
    // Three pictures split by hash: whichever splits got none are skipped, not refused.
    expect(Object.values(info.splits).reduce((n, s) => n + s.samples, 0)).toBe(3);
    expect(Object.keys(info.splits).every((s) => ['train', 'val', 'test'].includes(s))).toBe(true);
    expect(fs.existsSync(path.join(out, 'old'))).toBe(false);
    expect(fs.readdirSync(path.join(out, 'kept'))).toEqual(['notes.md']);
    expect(fs.existsSync(path.join(out, 'top.tar'))).toBe(true);
    const missing = ['train', 'val', 'test'].find((s) => !(s in info.splits));
    if (missing) await expect(writeShards(src, newDir(), { perShard: 5, splits: [missing] })).rejects.toThrow(/has no items in split/);
    else expect(Object.keys(info.splits)).toHaveLength(3);
  });

  it('refuses, writing nothing, when no split is left to write', async () => {
    const src = await userFolder();
    const out = path.join(newDir(), 'o');
    await expect(writeShards(src, out, { perShard: 5, splits: [] })).rejects.toThrow(`${src} has none of the splits ; nothing was written`);
    expect(fs.existsSync(out)).toBe(false);
  });

  it('refuses a shard it cannot write in one line, keeping the shards before it and no temporary file', async () => {
    const src = await userFolder();
    for (const [fail, why] of [[new Error('disk on fire'), 'disk on fire'], [Object.assign(new Error('cross-device'), { code: 'EXDEV' }), 'EXDEV']] as const) {
      const out = newDir();
      const real = fs.renameSync;
      let calls = 0;
      const spy = vi.spyOn(fs, 'renameSync').mockImplementation((a, b) => {
        if (++calls === 2) throw fail;
        real(a, b);
      });
      const err = await writeShards(src, out, { perShard: 1, splits: ['all'], shuffle: false }).catch((e: Error) => e);
      spy.mockRestore();
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).name).toBe('DataError');
      expect((err as Error).message).toBe(`${path.join(out, 'all', '00001.tar')}: cannot write (${why}); the shards written before it are whole`);
      expect(fs.readdirSync(path.join(out, 'all'))).toEqual(['00000.tar']);
    }
  });
});

describe('writeShards, its inputs and failures', () => {
  it('refuses a shard whose file cannot be written in one line, with nothing left behind', async () => {
    const src = await userFolder();
    const out = newDir();
    // The temporary file's stream fails on its first write, later, as a file stream does on a full
    // disk (its error comes on another tick, outside the tar stream's own calls); no file is made.
    const spy = vi.spyOn(fs, 'createWriteStream').mockImplementation(
      () =>
        new Writable({
          write(_c, _e, cb) {
            setImmediate(() => cb(Object.assign(new Error('no space left on device'), { code: 'ENOSPC' })));
          },
        }) as unknown as fs.WriteStream,
    );
    const err = await writeShards(src, out, { perShard: 5, splits: ['all'], shuffle: false }).catch((e: Error) => e);
    spy.mockRestore();
    expect((err as Error).name).toBe('DataError');
    expect((err as Error).message).toBe(`${path.join(out, 'all', '00000.tar')}: cannot write (ENOSPC); the shards written before it are whole`);
    expect(fs.readdirSync(path.join(out, 'all'))).toEqual([]);
  });

  it('takes a user folder’s tokenizer from the folder only, not from the one above it', async () => {
    const parent = newDir();
    fs.writeFileSync(path.join(parent, 'tokenizer.json'), '{"parent": true}');
    const src = path.join(parent, 'data');
    await writeImage(path.join(src, 'a.png'), 3, 3, 0);
    fs.writeFileSync(path.join(src, 'captions.tsv'), 'a.png\tone\n');
    const out = path.join(newDir(), 'o');
    await writeShards(src, out, { perShard: 5, splits: ['all'] });
    expect(fs.existsSync(path.join(out, 'tokenizer.json'))).toBe(false);
  });

  it('hands the dataset’s warnings to warn', async () => {
    const src = await userFolder();
    writeCorrupt(path.join(src, 'junk.png'));
    fs.appendFileSync(path.join(src, 'captions.tsv'), 'junk.png\tjunk\n');
    const warned: string[] = [];
    const console_ = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const info = await writeShards(src, path.join(newDir(), 'o'), { perShard: 5, splits: ['all'], warn: (l) => warned.push(l) });
    console_.mockRestore();
    expect(info.splits.all!.samples).toBe(3);
    expect(warned.join('\n')).toMatch(/junk\.png/);
  });
});

describe('sampleJson', () => {
  it('keeps a label of 0, drops empty metadata, and lists only other languages that have captions', () => {
    class Translated extends MemoryDataset {
      readonly languages = ['en', 'ru', 'zh'];
      captionsIn(i: number, lang: string): readonly string[] {
        if (lang === 'en') return ['english again'];
        return lang === 'ru' && i === 0 ? ['по-русски'] : [];
      }
      override meta(i: number) {
        return i === 0 ? { id: 'm0', label: 0, style: '', group: '' } : { id: 'm1' };
      }
    }
    const ds = new Translated(2) as unknown as Dataset;
    expect(sampleJson(ds, 0)).toEqual({ id: 'm0', caption: 'item 0 caption 0', captions: ['item 0 caption 0'], label: 0, i18n: { ru: ['по-русски'] } });
    expect(sampleJson(ds, 1)).toEqual({ id: 'm1', caption: 'item 1 caption 0', captions: ['item 1 caption 0'] });
    // A dataset without captionsIn has no i18n, whatever languages it lists; one without languages has none either.
    const plain = Object.assign(new MemoryDataset(1), { languages: ['en', 'ru'] }) as unknown as Dataset;
    expect(sampleJson(plain, 0)).toEqual({ id: 'm0', caption: 'item 0 caption 0', captions: ['item 0 caption 0'] });
    const unlisted = Object.assign(new MemoryDataset(1), { captionsIn: () => ['anything'] }) as unknown as Dataset;
    expect(sampleJson(unlisted, 0)).toEqual({ id: 'm0', caption: 'item 0 caption 0', captions: ['item 0 caption 0'] });
  });
});
