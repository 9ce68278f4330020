// A built set cut to every k-th pair (src/data/subset.ts) and a built split held in memory
// (src/data/memory-set.ts), against their headers, on a hand-made built set whose every raster
// byte names its item, size and split, so which pictures went where is read off the bytes.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DataError } from '../../../src/data/errors.ts';
import { MemoryDataset } from '../../../src/data/memory-set.ts';
import { FORMAT, FORMAT_VERSION, imageFile, readItems, readManifest, writeItems, type Manifest, type StoredItem } from '../../../src/data/store.ts';
import { writeSubset } from '../../../src/data/subset.ts';
import { tempDir } from '../data/fixtures.ts';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
const fresh = () => {
  const d = tempDir('coca-subset-');
  dirs.push(d);
  return d;
};

/** Byte of item i's raster at `side`, split `s`: i + 40·(side is the larger) + 100·(split is val). */
const byteOf = (i: number, side: number, s: string) => i + (side === 8 ? 40 : 0) + (s === 'val' ? 100 : 0);
const items = (n: number, s: string): StoredItem[] => Array.from({ length: n }, (_, i) => ({ id: `${s}${i}`, style: 'ink', group: `g${i % 3}`, captions: [`${s} picture ${i}`], ...(i % 2 ? { i18n: { ru: [`картинка ${i}`] } } : {}) }));

function builtSet(opts: { train?: number; val?: number; extras?: boolean } = {}): { dir: string; manifest: Manifest } {
  const dir = fresh();
  const counts: Record<string, number> = { train: opts.train ?? 10, val: opts.val ?? 4 };
  for (const [s, n] of Object.entries(counts)) {
    writeItems(dir, s, items(n, s));
    for (const side of [8, 4]) fs.writeFileSync(imageFile(dir, s, side), new Uint8Array(n * side * side * 3).map((_, k) => byteOf(Math.floor(k / (side * side * 3)), side, s)));
  }
  const manifest: Manifest = {
    format: FORMAT,
    version: FORMAT_VERSION,
    name: 'hand',
    imageSizes: [8, 4],
    splits: { train: { count: counts.train!, about: 'train' }, val: { count: counts.val!, about: 'val' } } as Manifest['splits'],
    mean: [0.5, 0.4, 0.3],
    std: [0.2, 0.2, 0.2],
    seed: 7,
    classes: { val: ['a', 'b'] },
    sources: [],
    build: { seconds: 0, bytes: 0, skipped: 0, at: '', preset: 'hand' },
    tokenizer: { file: 'tokenizer.json', vocabSize: 0 },
    languages: ['en', 'ru'],
  };
  fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(manifest));
  if (opts.extras !== false) {
    fs.writeFileSync(path.join(dir, 'tokenizer.json'), '{"tok": 1}');
    fs.writeFileSync(path.join(dir, 'LICENSES.md'), '# licences\n');
  }
  return { dir, manifest };
}

describe('writeSubset', () => {
  it('keeps pair floor(i·N/k) for i < k, with its smallest raster, as the train split of a set named <name>-<k>', () => {
    const { dir, manifest } = builtSet();
    const out = path.join(fresh(), 'sub');
    const s = writeSubset(dir, out, 4);
    expect(s.dir).toBe(out);
    expect(s.pairs).toBe(4);
    // N = 10, k = 4: 0, 2.5, 5, 7.5 → 0, 2, 5, 7.
    expect(readItems(out, 'train').map((it) => it.id)).toEqual(['train0', 'train2', 'train5', 'train7']);
    expect(readItems(out, 'train')[1]).toEqual(items(10, 'train')[2]);
    const px = fs.readFileSync(imageFile(out, 'train', 4));
    expect(px.length).toBe(4 * 48);
    expect([0, 1, 2, 3].map((r) => [...new Set(px.subarray(r * 48, (r + 1) * 48))])).toEqual([[0], [2], [5], [7]]);
    expect(fs.existsSync(imageFile(out, 'train', 8))).toBe(false);
    const m = readManifest(out);
    expect(m.name).toBe('hand-4');
    expect(m.imageSizes).toEqual([4]);
    expect(m.splits).toEqual({ train: { count: 4, about: '4 pairs of hand train, every 2.5th' } });
    expect(m.classes).toBeUndefined();
    // The rest is the source's.
    expect([m.format, m.version, m.mean, m.std, m.seed, m.languages, m.tokenizer]).toEqual([manifest.format, manifest.version, manifest.mean, manifest.std, manifest.seed, manifest.languages, manifest.tokenizer]);
    expect(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8').endsWith('}\n')).toBe(true);
    expect(fs.readFileSync(path.join(out, 'tokenizer.json'), 'utf8')).toBe('{"tok": 1}');
    expect(fs.readFileSync(path.join(out, 'LICENSES.md'), 'utf8')).toBe('# licences\n');
    const files = fs.readdirSync(out).sort();
    expect(files).toEqual(['LICENSES.md', 'manifest.json', 'tokenizer.json', 'train.4px.u8', 'train.jsonl'].sort());
    expect(s.bytes).toBe(files.reduce((n, f) => n + fs.statSync(path.join(out, f)).size, 0));
  });

  it('cuts another split when asked, and every pair when asked for all; copies no tokenizer or licences the source lacks', () => {
    const { dir } = builtSet({ extras: false });
    // Folders on the way are made.
    const out = path.join(fresh(), 'v', 'w');
    writeSubset(dir, out, 4, 'val');
    expect(readItems(out, 'train').map((it) => it.id)).toEqual(['val0', 'val1', 'val2', 'val3']);
    expect([...new Set(fs.readFileSync(imageFile(out, 'train', 4)))]).toEqual([100, 101, 102, 103]);
    expect(readManifest(out).splits.train!.about).toBe('4 pairs of hand val, every 1.0th');
    expect(fs.existsSync(path.join(out, 'tokenizer.json'))).toBe(false);
    expect(fs.existsSync(path.join(out, 'LICENSES.md'))).toBe(false);
    const one = writeSubset(dir, path.join(fresh(), 'one'), 1);
    expect(readItems(one.dir, 'train').map((it) => it.id)).toEqual(['train0']);
  });

  it('refuses a split the set lacks and a count outside 1..N, in one line', () => {
    const { dir } = builtSet();
    const out = path.join(fresh(), 'x');
    expect(() => writeSubset(dir, out, 2, 'test')).toThrow(new DataError("hand has no split 'test'; it has train, val"));
    for (const k of [0, 11, 2.5, -1]) expect(() => writeSubset(dir, out, k)).toThrow(new DataError(`a subset of ${k} pairs cannot be cut from hand train (10 pairs); ask for 1 to 10`));
    // Nothing written on a refusal.
    expect(fs.existsSync(out)).toBe(false);
    expect(() => writeSubset(dir, out, 10)).not.toThrow();
  });
});

describe('MemoryDataset', () => {
  function parts(split = 'val') {
    const { dir, manifest } = builtSet();
    return { manifest, json: fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'), jsonl: fs.readFileSync(path.join(dir, `${split}.jsonl`), 'utf8'), px: new Uint8Array(fs.readFileSync(imageFile(dir, split, 4))) };
  }

  it("holds a split's items, captions by language, metadata and smallest rasters", async () => {
    const p = parts();
    const ds = MemoryDataset.parse(p.json, p.jsonl, p.px, 'val');
    expect([ds.name, ds.split, ds.length, ds.imageSize]).toEqual(['hand', 'val', 4, 4]);
    expect(ds.languages).toEqual(['en', 'ru']);
    expect(ds.captions(1)).toEqual(['val picture 1']);
    expect(ds.captionsIn(1, 'en')).toEqual(['val picture 1']);
    expect(ds.captionsIn(1, 'ru')).toEqual(['картинка 1']);
    expect(ds.captionsIn(2, 'ru')).toEqual([]);
    expect(ds.captionsIn(1, 'zh')).toEqual([]);
    expect(ds.meta(1)).toEqual({ id: 'val1', style: 'ink', group: 'g1' });
    for (const i of [0, 3]) {
      const img = await ds.image(i);
      expect([img.width, img.height, img.data.length]).toEqual([4, 4, 48]);
      expect([...new Set(img.data)]).toEqual([byteOf(i, 4, 'val')]);
    }
    // A copy: the caller may write into it.
    (await ds.image(0)).data.fill(9);
    expect((await ds.image(0)).data[0]).toBe(100);
    for (const bad of [-1, 4]) {
      expect(() => ds.captions(bad)).toThrow(new RangeError(`item ${bad} out of range 0..3`));
      await expect(ds.image(bad)).rejects.toThrow(RangeError);
    }
    ds.close();
  });

  it('reads English only from a manifest without languages, and skips blank lines of the items', () => {
    const p = parts();
    const m = JSON.parse(p.json) as Manifest;
    delete m.languages;
    const ds = MemoryDataset.parse(JSON.stringify(m), `\n${p.jsonl}\n\n`, p.px, 'val');
    expect(ds.languages).toEqual(['en']);
    expect(ds.length).toBe(4);
  });

  it('refuses damaged files, a manifest that is not a coca set with that split, and rasters of the wrong length, in one line', () => {
    const p = parts();
    expect(() => MemoryDataset.parse('{', p.jsonl, p.px, 'val')).toThrow(/^the training set is damaged \(.+\); build the site again$/);
    expect(() => MemoryDataset.parse(p.json, '{"id": 1}\nnot json', p.px, 'val')).toThrow(/^the training set is damaged \(.+\); build the site again$/);
    const notSet = (m: object, split = 'val') => expect(() => MemoryDataset.parse(JSON.stringify(m), p.jsonl, p.px, split)).toThrow(new DataError(`the training set's manifest.json is not a coca dataset with a ${split} split; build the site again`));
    const m = JSON.parse(p.json) as Manifest;
    notSet({ ...m, format: 'other' });
    notSet({ ...m, imageSizes: 4 });
    notSet({ ...m, splits: undefined });
    notSet(m, 'test');
    expect(() => MemoryDataset.parse(p.json, p.jsonl, p.px.subarray(1), 'val')).toThrow(new DataError('hand val: 191 bytes of pictures, expected 192 (4 items of 4×4); build the set again'));
  });
});
