// A split of WebDataset shards held in memory (src/data/readers/shard-dataset.ts) against its
// header: shards.json read only when it is coca's, items by index with their captions, languages,
// metadata and pictures (evaluation: a square cover crop; training: the shorter side at 1.5 × the
// size), and openShardDataset's refusals and warnings. Expected values written out by hand.
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import tar from 'tar-stream';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { openShardDataset, readShardsInfo, ShardDataset } from '../../../src/data/readers/shard-dataset.ts';
import type { ShardPair } from '../../../src/data/readers/webdataset.ts';
import { tempDir } from '../data/fixtures.ts';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
afterEach(() => vi.restoreAllMocks());
const newDir = () => {
  const d = tempDir('coca-shardds-');
  dirs.push(d);
  return d;
};

async function writeTar(file: string, members: { name: string; data: Buffer | string }[]): Promise<void> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => chunks.push(c as Buffer));
  const done = new Promise<void>((r) => pack.on('end', () => r()));
  for (const m of members) pack.entry({ name: m.name }, typeof m.data === 'string' ? Buffer.from(m.data) : m.data);
  pack.finalize();
  await done;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, Buffer.concat(chunks));
}

/** 6 × 4: columns 0 and 5 red, the middle four blue. */
async function edgedPng(): Promise<Buffer> {
  const px = new Uint8Array(6 * 4 * 3);
  for (let y = 0; y < 4; y++)
    for (let x = 0; x < 6; x++) px.set(x === 0 || x === 5 ? [255, 0, 0] : [0, 0, 255], (y * 6 + x) * 3);
  return sharp(Buffer.from(px), { raw: { width: 6, height: 4, channels: 3 } }).png().toBuffer();
}

describe('readShardsInfo', () => {
  it('reads coca’s shards.json beside the shards or one folder up, and nothing else', () => {
    const dir = newDir();
    fs.mkdirSync(path.join(dir, 'train'));
    const info = { format: 'coca-shards', source: 'x', splits: { train: { samples: 2, shards: 1, classes: ['a', 'b'] } } };
    fs.writeFileSync(path.join(dir, 'shards.json'), JSON.stringify(info));
    expect(readShardsInfo(dir)).toEqual(info);
    expect(readShardsInfo(path.join(dir, 'train'))).toEqual(info);
    fs.writeFileSync(path.join(dir, 'shards.json'), JSON.stringify({ ...info, format: 'other' }));
    expect(readShardsInfo(dir)).toBeUndefined();
    fs.writeFileSync(path.join(dir, 'shards.json'), '{ not json');
    expect(readShardsInfo(dir)).toBeUndefined();
    fs.rmSync(path.join(dir, 'shards.json'));
    expect(readShardsInfo(dir)).toBeUndefined();
  });
});

describe('ShardDataset', () => {
  const pair = (key: string, over: Partial<ShardPair>): ShardPair => ({ key, shard: 's0.tar', index: 0, image: { ext: 'png', bytes: Buffer.alloc(0) }, captions: [`caption ${key}`], ...over });

  it('gives each item’s captions, its other languages sorted after English, and its metadata when typed right', () => {
    const ds = new ShardDataset('set', 'val', 4, [
      pair('a', { captions: ['one', 'uno'], json: { style: 'emoji', group: 'g1', label: 2, i18n: { zh: ['你好'], ru: ['Привет  мир', 'два'] } } }),
      pair('b', { json: { style: 5, group: null, label: '3', i18n: { en: ['english twice'] } } }),
      pair('c', {}),
    ]);
    expect([ds.name, ds.split, ds.imageSize, ds.length]).toEqual(['set', 'val', 4, 3]);
    expect(ds.languages).toEqual(['en', 'ru', 'zh']);
    expect(ds.classes).toBeUndefined();
    expect(ds.captions(0)).toEqual(['one', 'uno']);
    expect(ds.captionsIn(0, 'en')).toEqual(['one', 'uno']);
    expect(ds.captionsIn(0, 'ru')).toEqual(['привет мир', 'два']);
    expect(ds.captionsIn(1, 'ru')).toEqual([]);
    expect(ds.captionsIn(1, 'en')).toEqual(['caption b']);
    expect(ds.meta(0)).toEqual({ id: 's0.tar:a', style: 'emoji', group: 'g1', label: 2 });
    expect(ds.meta(1)).toEqual({ id: 's0.tar:b' });
    expect(ds.meta(2)).toEqual({ id: 's0.tar:c' });
    expect(() => ds.captions(3)).toThrow(new RangeError('item 3 out of range 0..2'));
    expect(() => ds.meta(-1)).toThrow(RangeError);
    expect(() => ds.source(3)).toThrow(RangeError);
    // Only English: no language list; classes when given.
    const plain = new ShardDataset('set', 'val', 4, [pair('a', { json: { i18n: { en: ['x'] } } }), pair('b', { json: { i18n: ['ru'] } })], ['x', 'y']);
    expect(plain.languages).toBeUndefined();
    expect(plain.classes).toEqual(['x', 'y']);
  });

  it('decodes a picture as a square cover crop for evaluation and at 1.5 × the size, uncropped, for training', async () => {
    const bytes = await edgedPng();
    const ds = new ShardDataset('set', 'val', 4, [pair('a', { image: { ext: 'png', bytes } }), pair('b', { image: { ext: 'jpg', bytes: Buffer.from('not a picture') } })]);
    expect(ds.source(0)).toEqual({ kind: 'bytes', bytes, name: 's0.tar:a.png' });
    const e = await ds.image(0, 'eval');
    expect([e.width, e.height, e.data.length]).toEqual([4, 4, 48]);
    // The cover crop keeps the middle four columns: all blue.
    for (let p = 0; p < 16; p++) expect([e.data[3 * p], e.data[3 * p + 1], e.data[3 * p + 2]], `pixel ${p}`).toEqual([0, 0, 255]);
    const t = await ds.image(0, 'train');
    // Shorter side 4 → round(4 · 1.5) = 6, so 6 × 4 → 9 × 6, red edges kept.
    expect([t.width, t.height]).toEqual([9, 6]);
    expect(t.data[0]).toBeGreaterThan(200);
    await expect(ds.image(1, 'eval')).rejects.toThrow(/s0\.tar:b\.jpg/);
    await expect(ds.image(1, 'train')).rejects.toThrow(/s0\.tar:b\.jpg/);
  });
});

describe('openShardDataset', () => {
  it('reads a split, its classes from shards.json, named after the shards’ folder; warns once about skipped samples', async () => {
    const dir = path.join(newDir(), 'myshards');
    const png = await edgedPng();
    await writeTar(path.join(dir, 'train', '00000.tar'), [
      { name: 'k0.png', data: png },
      { name: 'k0.json', data: JSON.stringify({ label: 1, caption: 'from json' }) },
      { name: 'k1.png', data: png },
      { name: 'k1.txt', data: 'a txt caption' },
      { name: 'k2.png', data: png },
    ]);
    fs.writeFileSync(path.join(dir, 'shards.json'), JSON.stringify({ format: 'coca-shards', source: 'x', splits: { train: { samples: 3, shards: 1, classes: ['cat', 'dog'] } } }));
    const lines: string[] = [];
    const ds = await openShardDataset(dir, { split: 'train', imageSize: 4, warn: (l) => lines.push(l) });
    expect([ds.name, ds.split, ds.imageSize, ds.length]).toEqual(['myshards', 'train', 4, 2]);
    expect(ds.classes).toEqual(['cat', 'dog']);
    expect([ds.captions(0), ds.captions(1)]).toEqual([['from json'], ['a txt caption']]);
    expect(ds.meta(0).label).toBe(1);
    expect(lines).toEqual([`warning: skipped 1 samples without a caption (txt or json "caption") (${path.join(dir, 'train', '00000.tar')}:k2) in ${dir}; pass --strict to stop at the first instead`]);
    // Another caption field; without a warn, the line goes to the console with coca's prefix.
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const other = await openShardDataset(dir, { split: 'train', imageSize: 4, captionField: 'label' });
    expect(other.length).toBe(1);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0]![0]).toMatch(/^coca: warning: skipped 2 samples without a caption \(txt or json "label"\)/);
    // Strict stops at the bad sample.
    await expect(openShardDataset(dir, { split: 'train', imageSize: 4, strict: true })).rejects.toThrow(/k2 \(in .*\); fix or remove it/);
    // A shards.json that does not list the split, or none at all: no classes.
    fs.writeFileSync(path.join(dir, 'shards.json'), JSON.stringify({ format: 'coca-shards', source: 'x', splits: {} }));
    expect((await openShardDataset(dir, { split: 'train', imageSize: 4, warn: () => {} })).classes).toBeUndefined();
    fs.rmSync(path.join(dir, 'shards.json'));
    expect((await openShardDataset(dir, { split: 'train', imageSize: 4, warn: () => {} })).classes).toBeUndefined();
  });

  it('refuses a list that names no shards, and shards without one usable pair, in one line', async () => {
    const dir = newDir();
    fs.writeFileSync(path.join(dir, 'list.txt'), '# nothing here\n');
    await expect(openShardDataset(path.join(dir, 'list.txt'), { split: 'train', imageSize: 4 })).rejects.toThrow(new RegExp(`^${path.join(dir, 'list.txt')} names no shards; check the pattern or list$`));
    await writeTar(path.join(dir, 'one', 'a.tar'), [{ name: 'x.txt', data: 'no picture' }]);
    await writeTar(path.join(dir, 'two', 'a.tar'), [{ name: 'x.txt', data: 'no picture' }]);
    await writeTar(path.join(dir, 'two', 'b.tar'), [{ name: 'y.txt', data: 'no picture' }]);
    const quiet = { imageSize: 4, warn: () => {} };
    await expect(openShardDataset(path.join(dir, 'one'), { split: 'train', ...quiet })).rejects.toThrow(
      `no usable image–caption pairs in the 1 shard of ${path.join(dir, 'one')} split train; see the warnings above`,
    );
    await expect(openShardDataset(path.join(dir, 'two'), { split: 'all', ...quiet })).rejects.toThrow(
      `no usable image–caption pairs in the 2 shards of ${path.join(dir, 'two')} split all; see the warnings above`,
    );
  });
});
