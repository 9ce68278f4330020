import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { DataError } from '../../../src/data/errors.ts';
import { loadDataset, measuredStats } from '../../../src/data/load.ts';
import { defaultPreprocess } from '../../../src/data/preprocess.ts';
import { detectFormat, openUserDataset, readUserDataset, splitOf } from '../../../src/data/readers/index.ts';
import { tempDir, writeCorrupt, writeImage } from './fixtures.ts';

/** a.png and b.jpg are fine; c.png is corrupt; d.png is named but missing. */
async function images(dir: string, sub = '.'): Promise<void> {
  await writeImage(path.join(dir, sub, 'a.png'), 20, 14, 1);
  await writeImage(path.join(dir, sub, 'b.jpg'), 12, 18, 2);
  await writeImage(path.join(dir, sub, 'e.webp'), 16, 16, 3);
  writeCorrupt(path.join(dir, sub, 'c.png'));
}

function quiet() {
  const lines: string[] = [];
  return { warn: (l: string) => lines.push(l), lines };
}

describe('folder with captions.tsv', () => {
  let dir: string;
  beforeAll(async () => {
    dir = tempDir();
    await images(dir);
    const text = Buffer.concat([
      Buffer.from('a.png\tA red square\na.png\tA second caption for a\nb.jpg\tA tall picture\nc.png\tcorrupt one\nd.png\tmissing one\ne.webp\t   \n'),
      Buffer.from([0x62, 0x2e, 0x6a, 0x70, 0x67, 0x09, 0xff, 0xfe, 0x0a]), // b.jpg<TAB>\xff\xfe: not UTF-8
      Buffer.from('e.webp\tA webp picture\n'),
    ]);
    fs.writeFileSync(path.join(dir, 'captions.tsv'), text);
  });

  it('reads two captions per image, skips the bad entries and says so in one line', async () => {
    const q = quiet();
    const r = await readUserDataset(dir, { warn: q.warn });
    expect(r.format).toBe('captions-tsv');
    const byName = new Map(r.records.map((x) => [path.basename(x.image), x.captions]));
    expect([...byName.keys()].sort()).toEqual(['a.png', 'b.jpg', 'e.webp']);
    expect(byName.get('a.png')).toEqual(['a red square', 'a second caption for a']);
    expect(byName.get('e.webp')).toEqual(['a webp picture']);
    expect(r.problems.count('missing images')).toBe(1);
    expect(r.problems.count('corrupt or unreadable images')).toBe(1);
    expect(r.problems.count('empty captions')).toBe(1);
    expect(r.problems.count('lines not in UTF-8')).toBe(1);
    expect(q.lines.length).toBe(1);
    expect(q.lines[0]).not.toContain('\n');
    expect(q.lines[0]).toMatch(/d\.png/);
    expect(q.lines[0]).toMatch(/c\.png/);
    expect(q.lines[0]).toMatch(/--strict/);
  });

  it('with --strict stops at the first bad entry, naming it', async () => {
    await expect(readUserDataset(dir, { strict: true, warn: () => {} })).rejects.toThrow(DataError);
    await expect(readUserDataset(dir, { strict: true, warn: () => {} })).rejects.toThrow(/captions\.tsv/);
  });

  it('opens as a dataset whose images come back at the asked size, RGB, from PNG, JPEG and WebP', async () => {
    const ds = await openUserDataset(dir, { split: 'all', imageSize: 10, warn: () => {} });
    expect(ds.length).toBe(3);
    for (let i = 0; i < ds.length; i++) {
      const ev = await ds.image(i, 'eval');
      expect([ev.width, ev.height, ev.data.length]).toEqual([10, 10, 300]);
      const tr = await ds.image(i, 'train');
      expect(Math.min(tr.width, tr.height)).toBe(15);
      expect(tr.data.length).toBe(tr.width * tr.height * 3);
    }
  });

  it('supplies pixels only: a new model on users\' data defaults to CLIP statistics and a centre crop', async () => {
    const ds = await loadDataset(dir, { split: 'all', imageSize: 8, warn: () => {} });
    expect('mean' in ds).toBe(false);
    expect(measuredStats(dir)).toBeUndefined();
    const pre = defaultPreprocess(8, measuredStats(dir));
    expect(pre.mean[0]).toBeCloseTo(0.481, 3);
    expect(pre.resizeMode).toBe('shortest');
  });

  it('splits a format without splits by a seeded hash of the image path, 90/5/5', () => {
    const counts = { train: 0, val: 0, test: 0 } as Record<string, number>;
    for (let i = 0; i < 4000; i++) counts[splitOf({ image: `/x/${i}.jpg`, captions: ['c'] }, 3, '/x')]!++;
    expect(counts['train']! / 4000).toBeCloseTo(0.9, 1);
    expect(counts['val']! / 4000).toBeCloseTo(0.05, 1);
    expect(splitOf({ image: '/x/1.jpg', captions: ['c'], split: 'val' }, 3, '/x')).toBe('val');
    // Only the path inside the dataset counts.
    for (let i = 0; i < 200; i++) expect(splitOf({ image: `/a/pics/${i}.jpg`, captions: ['c'] }, 3, '/a')).toBe(splitOf({ image: `/b/c/pics/${i}.jpg`, captions: ['c'] }, 3, '/b/c'));
  });
});

describe('captions.jsonl', () => {
  it('reads "caption" and "captions" lines and reports lines that are not JSON', async () => {
    const dir = tempDir();
    await images(dir, 'img');
    fs.writeFileSync(
      path.join(dir, 'captions.jsonl'),
      [JSON.stringify({ image: 'img/a.png', captions: ['one', 'two'] }), JSON.stringify({ image: 'img/b.jpg', caption: 'three' }), '{not json', JSON.stringify({ image: 'img/e.webp', caption: '' })].join('\n'),
    );
    const q = quiet();
    const r = await readUserDataset(dir, { warn: q.warn });
    expect(r.format).toBe('captions-jsonl');
    expect(r.records.map((x) => x.captions)).toEqual([['one', 'two'], ['three']]);
    expect(r.problems.count('lines that are not JSON')).toBe(1);
    expect(r.problems.count('empty captions')).toBe(1);
    expect(q.lines.length).toBe(1);
  });
});

describe('COCO and Karpathy caption JSON', () => {
  it('joins COCO annotations to image files, several captions per image', async () => {
    const dir = tempDir();
    await images(dir, 'val2014');
    fs.mkdirSync(path.join(dir, 'annotations'));
    fs.writeFileSync(
      path.join(dir, 'annotations', 'captions_val2014.json'),
      JSON.stringify({
        images: [
          { id: 1, file_name: 'a.png' },
          { id: 2, file_name: 'b.jpg' },
          { id: 3, file_name: 'zzz.jpg' },
        ],
        annotations: [
          { image_id: 1, caption: 'A dog on a surfboard.' },
          { image_id: 1, caption: 'A surfing dog' },
          { image_id: 2, caption: 'Two cats' },
          { image_id: 3, caption: 'gone' },
        ],
      }),
    );
    expect(detectFormat(dir).format).toBe('coco');
    const q = quiet();
    const r = await readUserDataset(dir, { warn: q.warn });
    expect(r.records.map((x) => [path.relative(dir, x.image), x.captions])).toEqual([
      ['val2014/a.png', ['a dog on a surfboard.', 'a surfing dog']],
      ['val2014/b.jpg', ['two cats']],
    ]);
    expect(r.problems.count('missing images')).toBe(1);
  });

  it('reads the Karpathy split file with its splits, restval counted as train', async () => {
    const dir = tempDir();
    await images(dir, 'Flicker8k_Dataset');
    const img = (filename: string, split: string, ...raw: string[]) => ({ filename, split, sentences: raw.map((r) => ({ raw: r, tokens: r.split(' ') })) });
    fs.writeFileSync(
      path.join(dir, 'dataset_flickr8k.json'),
      JSON.stringify({ dataset: 'flickr8k', images: [img('a.png', 'train', 'A child.', 'A kid.'), img('b.jpg', 'restval', 'A dog.'), img('e.webp', 'test', 'A cat.')] }),
    );
    const r = await readUserDataset(dir, { warn: () => {} });
    expect(r.format).toBe('karpathy');
    expect(r.records.map((x) => [path.basename(x.image), x.split, x.captions.length])).toEqual([
      ['a.png', 'train', 2],
      ['b.jpg', 'train', 1],
      ['e.webp', 'test', 1],
    ]);
    const test = await loadDataset(dir, { split: 'test', imageSize: 8, warn: () => {} });
    expect(test.length).toBe(1);
    expect(test.captions(0)).toEqual(['a cat.']);
  });
});

describe('Flickr8k token file and Conceptual-Captions TSV', () => {
  it('reads Flickr8k.token.txt with its split lists', async () => {
    const dir = tempDir();
    await images(dir, 'Flicker8k_Dataset');
    fs.writeFileSync(path.join(dir, 'Flickr8k.token.txt'), 'a.png#0\tA child in pink .\na.png#1\tA girl .\nb.jpg#0\tA black dog .\n');
    fs.writeFileSync(path.join(dir, 'Flickr_8k.testImages.txt'), 'b.jpg\n');
    const r = await readUserDataset(dir, { warn: () => {} });
    expect(r.format).toBe('flickr8k');
    expect(r.records.map((x) => [path.basename(x.image), x.captions, x.split])).toEqual([
      ['a.png', ['a child in pink .', 'a girl .'], undefined],
      ['b.jpg', ['a black dog .'], 'test'],
    ]);
  });

  it('reads caption<TAB>path and reports URLs as not fetchable', async () => {
    const dir = tempDir();
    await images(dir, 'pics');
    fs.writeFileSync(path.join(dir, 'train.tsv'), 'a red square\tpics/a.png\na web picture\thttps://example.invalid/x.jpg\ntall\tpics/b.jpg\n');
    const q = quiet();
    const r = await readUserDataset(dir, { warn: q.warn });
    expect(r.format).toBe('cc-tsv');
    expect(r.records.map((x) => x.captions[0])).toEqual(['a red square', 'tall']);
    expect(q.lines[0]).toMatch(/URLs \(not fetchable/);
  });
});

describe('datasets that cannot be used', () => {
  it('an empty caption file', async () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'captions.tsv'), '');
    await expect(readUserDataset(dir)).rejects.toThrow(/holds no image–caption pairs/);
  });

  it('a folder in no known format', async () => {
    const dir = tempDir();
    await images(dir);
    await expect(readUserDataset(dir)).rejects.toThrow(/no dataset recognised/);
    fs.writeFileSync(path.join(dir, 'x.json'), JSON.stringify({ hello: 1 }));
    await expect(readUserDataset(path.join(dir, 'x.json'))).rejects.toThrow(/neither a COCO caption file nor a Karpathy/);
  });

  it('a caption file whose images are all missing', async () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'captions.tsv'), 'x.png\ta\ny.png\tb\n');
    await expect(readUserDataset(dir, { warn: () => {} })).rejects.toThrow(/none of the 2 images named/);
  });

  it('a split with no items, and a path that does not exist', async () => {
    const dir = tempDir();
    await images(dir);
    fs.writeFileSync(path.join(dir, 'captions.tsv'), 'a.png\tone\n');
    await expect(loadDataset(dir, { split: 'nope', warn: () => {} })).rejects.toThrow(/no items in split 'nope'/);
    await expect(loadDataset(path.join(dir, 'absent'), { split: 'train' })).rejects.toThrow(/does not exist/);
  });
});
