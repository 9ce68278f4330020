// src/data/store.ts, the on-disk form of a built dataset, against its header: items as one JSON
// line each, pixels raw at index·S·S·3 (written in any order), the manifest's format checked, the
// smallest stored size not below the one asked read, and every refusal one line naming what to do.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FORMAT, FORMAT_VERSION, ImageWriter, StoredDataset, imageFile, manifestLanguages, readItems, readManifest, writeItems, type Manifest, type StoredItem } from '../../../src/data/store.ts';
import { DataError } from '../../../src/data/errors.ts';
import { tempDir } from '../data/fixtures.ts';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

function manifest(over: Partial<Manifest> = {}): Manifest {
  return {
    format: FORMAT,
    version: FORMAT_VERSION,
    name: 'tiny',
    imageSizes: [4, 2, 8],
    splits: { train: { count: 3, about: 'training' } },
    mean: [0.5, 0.5, 0.5],
    std: [0.25, 0.25, 0.25],
    seed: 1,
    sources: [],
    build: { seconds: 0, bytes: 0, skipped: 0, at: 'now', preset: 'test' },
    tokenizer: { file: 'tokenizer.json', vocabSize: 300 },
    ...over,
  };
}

const ITEMS: StoredItem[] = [
  { id: 'a', captions: ['a red circle', 'a circle'], group: 'g0', style: 's' },
  { id: 'b', captions: ['a blue square'], group: 'g1', style: 's', label: 2, i18n: { ru: ['синий квадрат'] } },
  { id: 'c', captions: ['a green line'], group: 'g1', style: 't' },
];

/** Pixel bytes of item i at side s: every byte (i·37 + k) mod 251, so items and sizes differ. */
const pixels = (i: number, s: number) => Uint8Array.from({ length: s * s * 3 }, (_, k) => (i * 37 + k + s) % 251);

function build(m: Manifest = manifest()): string {
  const dir = tempDir('coca-store-');
  dirs.push(dir);
  fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(m));
  writeItems(dir, 'train', ITEMS);
  for (const s of m.imageSizes) {
    const w = new ImageWriter(imageFile(dir, 'train', s), s);
    // Out of order: each image lands at its own index.
    for (const i of [2, 0, 1]) w.write(pixels(i, s), i);
    w.close();
  }
  return dir;
}

describe('store: a built dataset on disk', () => {
  it('writes items one JSON line each and reads them back', () => {
    const dir = build();
    const text = fs.readFileSync(path.join(dir, 'train.jsonl'), 'utf8');
    expect(text.split('\n')).toHaveLength(4); // three lines and the final newline
    expect(text.endsWith('\n')).toBe(true);
    expect(JSON.parse(text.split('\n')[1]!)).toEqual(ITEMS[1]);
    expect(readItems(dir, 'train')).toEqual(ITEMS);
    expect(imageFile('/x', 'val', 64)).toBe(path.join('/x', 'val.64px.u8'));
  });

  it('reads each picture from its place, at the smallest stored size not below the one asked', async () => {
    const dir = build();
    const m = readManifest(dir);
    for (const [asked, stored] of [[1, 2], [2, 2], [3, 4], [4, 4], [5, 8], [8, 8], [20, 8]] as const) {
      const ds = new StoredDataset(dir, 'tiny', 'train', asked, readItems(dir, 'train'), m);
      expect(ds.length).toBe(3);
      for (const i of [1, 0, 2]) {
        const img = await ds.image(i);
        expect({ w: img.width, h: img.height }, `asked ${asked}`).toEqual({ w: stored, h: stored });
        expect(Buffer.from(img.data).equals(Buffer.from(pixels(i, stored))), `asked ${asked}, item ${i}`).toBe(true);
        expect(ds.source(i)).toEqual({ kind: 'stored', file: imageFile(dir, 'train', stored), index: i, side: stored });
      }
      ds.close();
    }
  });

  it('captions, captions per language, metadata without them, classes and languages from the manifest', () => {
    const dir = build(manifest({ classes: { train: ['circle', 'square', 'line'], val: ['x'] }, languages: ['en', 'ru'] }));
    const ds = new StoredDataset(dir, 'tiny', 'train', 4, readItems(dir, 'train'), readManifest(dir));
    expect(ds.captions(0)).toEqual(['a red circle', 'a circle']);
    expect(ds.captionsIn(1, 'en')).toEqual(['a blue square']);
    expect(ds.captionsIn(1, 'ru')).toEqual(['синий квадрат']);
    expect(ds.captionsIn(0, 'ru')).toEqual([]);
    expect(ds.captionsIn(1, 'zh')).toEqual([]);
    expect(ds.meta(1)).toEqual({ id: 'b', group: 'g1', style: 's', label: 2 });
    expect(ds.classes).toEqual(['circle', 'square', 'line']);
    expect(ds.languages).toEqual(['en', 'ru']);
    expect(() => ds.captions(3)).toThrow(/^item 3 out of range 0\.\.2$/);
    expect(() => ds.meta(-1)).toThrow(RangeError);
    expect(() => ds.source(3)).toThrow(RangeError);
    ds.close();
    const plain = build();
    const ds2 = new StoredDataset(plain, 'tiny', 'train', 4, readItems(plain, 'train'), readManifest(plain));
    expect(ds2.classes).toBeUndefined();
    expect(ds2.languages).toEqual(['en']);
    ds2.close();
    expect(manifestLanguages(manifest())).toEqual(['en']);
    expect(manifestLanguages(manifest({ languages: ['en', 'zh'] }))).toEqual(['en', 'zh']);
  });

  it('closing a dataset or an image writer releases its file', () => {
    const dir = build();
    const open = () => fs.readdirSync('/dev/fd').length;
    const before = open();
    const ds = new StoredDataset(dir, 'tiny', 'train', 4, readItems(dir, 'train'), readManifest(dir));
    const w = new ImageWriter(path.join(dir, 'y.u8'), 2);
    expect(open()).toBe(before + 2);
    ds.close();
    w.close();
    expect(open()).toBe(before);
  });

  it('a picture past the end is refused before reading', async () => {
    const dir = build();
    const ds = new StoredDataset(dir, 'tiny', 'train', 4, readItems(dir, 'train'), readManifest(dir));
    await expect(ds.image(3)).rejects.toThrow(/^item 3 out of range 0\.\.2$/);
    ds.close();
  });

  it('refuses, in one line naming what to do: no manifest, another format or version, a missing or short pixel file, a wrong-sized image', () => {
    const empty = tempDir('coca-store-');
    dirs.push(empty);
    expect(() => readManifest(empty)).toThrow(new DataError(`${empty} holds no built dataset (no manifest.json); run 'coca data build' first`));
    for (const bad of [{ format: 'other' }, { version: FORMAT_VERSION + 1 }]) {
      const dir = build(manifest(bad as Partial<Manifest>));
      expect(() => readManifest(dir)).toThrow(new DataError(`${path.join(dir, 'manifest.json')} is not a coca dataset of format version ${FORMAT_VERSION}; rebuild it with 'coca data build'`));
    }
    const dir = build();
    const m = readManifest(dir);
    fs.rmSync(imageFile(dir, 'train', 4));
    expect(() => new StoredDataset(dir, 'tiny', 'train', 3, readItems(dir, 'train'), m)).toThrow(new DataError(`${imageFile(dir, 'train', 4)} is missing; rebuild the dataset with 'coca data build'`));
    fs.truncateSync(imageFile(dir, 'train', 8), 8 * 8 * 3 * 3 - 1);
    expect(() => new StoredDataset(dir, 'tiny', 'train', 8, readItems(dir, 'train'), m)).toThrow(
      new DataError(`${imageFile(dir, 'train', 8)} has ${8 * 8 * 3 * 3 - 1} bytes, expected ${8 * 8 * 3 * 3}; rebuild the dataset with 'coca data build'`),
    );
    const w = new ImageWriter(path.join(dir, 'x.u8'), 2);
    expect(() => w.write(new Uint8Array(11), 0)).toThrow(/^image of 11 bytes, expected 12$/);
    w.close();
  });
});
