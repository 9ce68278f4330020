// Opening a dataset by name or path (src/data/load.ts) against its header and messages: the
// built-in names under COCA_CACHE, a built folder's splits, default picture size and statistics,
// users' folders and WebDataset shards, and where each finds its tokenizer; every refusal one line
// naming what to do. Also DataError's name (errors.ts), which heads the stack COCA_DEBUG prints.
import fs from 'node:fs';
import path from 'node:path';
import tar from 'tar-stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DataError } from '../../../src/data/errors.ts';
import { isShardData, listSplits, loadDataset, loadTokenizer, measuredStats, resolveDataPath } from '../../../src/data/load.ts';
import { ImageWriter, imageFile } from '../../../src/data/store.ts';
import { patternPixels, tempDir, writeImage, writeStoredFixture } from '../data/fixtures.ts';
import { COCA, handJson } from './hand-tokenizer.ts';

const dirs: string[] = [];
const dir = (prefix: string) => {
  const d = tempDir(prefix);
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

const writeTokenizer = (file: string) => fs.writeFileSync(file, JSON.stringify(handJson(COCA)));

async function tarOf(members: { name: string; data: Buffer }[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const m of members) pack.entry({ name: m.name, size: m.data.length }, m.data);
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe('DataError', () => {
  it('is named DataError, in its name and at the head of its stack', () => {
    const e = new DataError('no such split');
    expect(e.name).toBe('DataError');
    expect(e.stack?.split('\n')[0]).toBe('DataError: no such split');
  });
});

describe('the built-in sets by name', () => {
  const saved = process.env['COCA_CACHE'];
  afterEach(() => {
    if (saved === undefined) delete process.env['COCA_CACHE'];
    else process.env['COCA_CACHE'] = saved;
  });

  it('say how to build them when they are not built, and resolve to their folder when they are', () => {
    const cache = dir('coca-cache-');
    process.env['COCA_CACHE'] = cache;
    expect(() => resolveDataPath('builtin')).toThrow(new DataError(`the builtin dataset is not built yet; run 'coca data build' (it fetches the art packages into ${cache})`));
    expect(() => resolveDataPath('builtin-small')).toThrow(`the builtin-small dataset is not built yet; run 'coca data build --small' (it fetches the art packages into ${cache})`);
    const small = path.join(cache, 'data', 'builtin-small');
    fs.mkdirSync(small, { recursive: true });
    fs.writeFileSync(path.join(small, 'manifest.json'), '{}');
    expect(resolveDataPath('builtin-small')).toBe(small);
    expect(() => resolveDataPath('builtin')).toThrow(/builtin dataset is not built yet/);
    // A folder without its manifest is a build that never finished: still not built.
    fs.mkdirSync(path.join(cache, 'data', 'builtin'));
    expect(() => resolveDataPath('builtin')).toThrow(/builtin dataset is not built yet/);
    // A folder named like a shard folder is still never read as shards.
    expect(isShardData('builtin-small')).toBe(false);
  });
});

describe('a built dataset folder', () => {
  let built: string;
  beforeAll(async () => {
    built = dir('coca-built-');
    // Two rasters, 16 and 8 px, listed largest first: the default size is the smallest stored.
    await writeStoredFixture(built, 2, 16);
    const w = new ImageWriter(imageFile(built, 'train', 8), 8);
    for (let i = 0; i < 2; i++) w.write(patternPixels(8, 8, i), i);
    w.close();
    const m = JSON.parse(fs.readFileSync(path.join(built, 'manifest.json'), 'utf8')) as { imageSizes: number[]; splits: Record<string, unknown> };
    m.imageSizes = [16, 8];
    m.splits['val'] = { count: 0, about: 'none' };
    fs.writeFileSync(path.join(built, 'manifest.json'), JSON.stringify(m));
  });

  it('opens a split at the smallest stored size unless one is asked, and names the splits it has', async () => {
    const ds = await loadDataset(built, { split: 'train' });
    expect([ds.name, ds.split, ds.length, ds.imageSize]).toEqual(['fixture', 'train', 2, 8]);
    ds.close();
    const big = await loadDataset(built, { split: 'train', imageSize: 16 });
    expect(big.imageSize).toBe(16);
    big.close();
    await expect(loadDataset(built, { split: 'test' })).rejects.toThrow(new DataError("fixture has no split 'test'; it has train, val"));
    expect(listSplits(built)).toEqual(['train', 'val']);
  });

  it("gives the manifest's statistics and its tokenizer.json, or says how to make one", () => {
    expect(measuredStats(built)).toEqual({ mean: [0.5, 0.4, 0.3], std: [0.2, 0.2, 0.2] });
    expect(() => loadTokenizer(built)).toThrow(new DataError(`no tokenizer.json at ${path.join(built, 'tokenizer.json')}; for your own data run 'coca data tokenizer --data ${built}' first`));
    writeTokenizer(path.join(built, 'tokenizer.json'));
    expect(loadTokenizer(built).encode('ab')).toEqual([1, 259, 2]);
  });
});

describe("users' folders and files", () => {
  it('open at 64 px unless asked, with the three hashed splits and all, no statistics, a tokenizer named directly', async () => {
    const user = dir('coca-user-');
    await writeImage(path.join(user, 'a.png'), 12, 10, 1);
    fs.writeFileSync(path.join(user, 'captions.jsonl'), JSON.stringify({ image: 'a.png', caption: 'a red thing' }) + '\n');
    const ds = await loadDataset(user, { split: 'all', warn: () => {} });
    expect([ds.length, ds.imageSize]).toEqual([1, 64]);
    ds.close();
    expect(listSplits(user)).toEqual(['train', 'val', 'test', 'all']);
    expect(measuredStats(user)).toBeUndefined();
    const file = path.join(user, 'my-tokenizer.json');
    writeTokenizer(file);
    expect(loadTokenizer(file).vocabSize).toBe(260);
    // A relative path resolves against the working directory.
    expect(resolveDataPath(path.relative(process.cwd(), user))).toBe(user);
    const absent = path.join(user, 'absent');
    expect(() => resolveDataPath(absent)).toThrow(new DataError(`dataset path ${absent} does not exist; pass a folder or caption file, or 'builtin'`));
  });
});

describe('WebDataset shards', () => {
  let root: string;
  beforeAll(async () => {
    root = dir('coca-shards-');
    const png = Buffer.from(await import('sharp').then((s) => s.default(Buffer.from(patternPixels(6, 5, 3)), { raw: { width: 6, height: 5, channels: 3 } }).png().toBuffer()));
    const bytes = await tarOf([
      { name: 'k0.png', data: png },
      { name: 'k0.txt', data: Buffer.from('a small picture') },
    ]);
    for (const split of ['train', 'val']) {
      fs.mkdirSync(path.join(root, 'set', split), { recursive: true });
      fs.writeFileSync(path.join(root, 'set', split, '00000.tar'), bytes);
    }
    fs.mkdirSync(path.join(root, 'flat'));
    fs.writeFileSync(path.join(root, 'flat', '00000.tar'), bytes);
  });

  it('open at 64 px unless asked, and list their split folders and all', async () => {
    const set = path.join(root, 'set');
    const ds = await loadDataset(set, { split: 'val', warn: () => {} });
    expect([ds.length, ds.imageSize, ds.captions(0)]).toEqual([1, 64, ['a small picture']]);
    expect(listSplits(set)).toEqual(['train', 'val', 'all']);
    expect(listSplits(path.join(root, 'flat'))).toEqual(['train', 'all']);
  });

  it("take the statistics of a coca shards.json beside them, and none without one", () => {
    const flat = path.join(root, 'flat');
    expect(measuredStats(flat)).toBeUndefined();
    const info = { format: 'coca-shards', splits: { train: { samples: 1, shards: 1 } }, mean: [0.1, 0.2, 0.3], std: [0.4, 0.5, 0.6] };
    fs.writeFileSync(path.join(flat, 'shards.json'), JSON.stringify(info));
    expect(measuredStats(flat)).toEqual({ mean: [0.1, 0.2, 0.3], std: [0.4, 0.5, 0.6] });
    fs.writeFileSync(path.join(flat, 'shards.json'), JSON.stringify({ ...info, std: undefined }));
    expect(measuredStats(flat)).toBeUndefined();
    fs.writeFileSync(path.join(flat, 'shards.json'), JSON.stringify({ ...info, mean: undefined }));
    expect(measuredStats(flat)).toBeUndefined();
    fs.rmSync(path.join(flat, 'shards.json'));
  });

  it('find their tokenizer.json beside them or one folder up, and say where to put one', () => {
    const train = path.join(root, 'set', 'train');
    expect(() => loadTokenizer(train)).toThrow(
      new DataError(`no tokenizer.json beside the shards of ${train} (nor one folder up); put one there (coca data tokenizer --data ${train} --out <folder>/tokenizer.json), or for shards over http list their URLs in a file next to a tokenizer.json`),
    );
    writeTokenizer(path.join(root, 'set', 'tokenizer.json'));
    expect(loadTokenizer(train).vocabSize).toBe(260);
  });

  it('name a missing local shard, with how many the argument names when more than one; URLs are not looked for', () => {
    const one = path.join(root, 'missing.tar');
    expect(() => isShardData(one)).toThrow(new DataError(`shard ${one} does not exist; check the path or pattern`));
    const pattern = path.join(root, 'flat', '{00000..00002}.tar');
    expect(() => isShardData(pattern)).toThrow(`shard ${path.join(root, 'flat', '00001.tar')} does not exist (one of the 3 shards ${pattern} names); check the path or pattern`);
    expect(isShardData('https://example.invalid/shards/{0..1}.tar')).toBe(true);
    expect(isShardData('HTTP://example.invalid/a.tar')).toBe(true);
    // Only a leading scheme makes a URL: a local name with "http://" inside is looked for.
    const inside = path.join(root, 'x') + '/http://y.tar';
    expect(() => isShardData(inside)).toThrow(`shard ${inside} does not exist; check the path or pattern`);
    // Shard arguments stay as given (patterns and URLs are no paths to resolve).
    const pat = path.join(root, 'flat', '{00000..00000}.tar');
    expect(resolveDataPath(pat)).toBe(pat);
    expect(resolveDataPath('https://example.invalid/a.tar')).toBe('https://example.invalid/a.tar');
  });
});
