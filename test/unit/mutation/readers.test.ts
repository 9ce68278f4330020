// The readers of users' datasets (src/data/readers), in the cases the mutation run
// (docs/mutation.md) found untested: which caption goes with which picture, where the pictures
// are looked for, which format a folder is read as, and what a skipped entry is reported as. Each
// expected value is what the format's own documentation says the file means, written by hand.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DataError } from '../../../src/data/errors.ts';
import { readCaptionUrlTsv } from '../../../src/data/readers/cc.ts';
import { isCoco, isKarpathy, readCoco, readKarpathy } from '../../../src/data/readers/coco.ts';
import { mergeRecords, Problems, readJson, readLines } from '../../../src/data/readers/common.ts';
import { detectFormat } from '../../../src/data/readers/detect.ts';
import { FileDataset } from '../../../src/data/readers/files.ts';
import { readFlickrTokens } from '../../../src/data/readers/flickr.ts';
import { readCaptionsJsonl, readCaptionsTsv } from '../../../src/data/readers/folder.ts';
import { openUserDataset, readUserDataset, splitOf } from '../../../src/data/readers/index.ts';
import { tempDir, writeCorrupt, writeImage } from '../data/fixtures.ts';

const write = (file: string, text: string | Buffer) => {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
  return file;
};
const touch = (file: string) => write(file, 'x');

describe('Problems: what was skipped, reported once', () => {
  it('counts each kind, names the first three places and marks more with …', () => {
    const p = new Problems('/d/captions.tsv', false);
    expect(p.total).toBe(0);
    expect(p.summary()).toBeUndefined();
    for (const w of ['a', 'b', 'c', 'd']) p.add('missing images', w);
    p.add('empty captions', 'x');
    expect(p.total).toBe(5);
    expect(p.count('missing images')).toBe(4);
    expect(p.count('empty captions')).toBe(1);
    expect(p.count('lines without a tab')).toBe(0);
    expect(p.summary()).toBe('warning: skipped 4 missing images (a, b, c, …); 1 empty captions (x) in /d/captions.tsv; pass --strict to stop at the first instead');
    const three = new Problems('f', false);
    for (const w of ['a', 'b', 'c']) three.add('k', w);
    expect(three.summary()).toBe('warning: skipped 3 k (a, b, c) in f; pass --strict to stop at the first instead');
  });

  it('strict: the first problem is a DataError naming it, the file and the way out', () => {
    const p = new Problems('/d/captions.tsv', true);
    expect(() => p.add('missing images', '/d/x.png')).toThrow(new DataError('missing images: /d/x.png (in /d/captions.tsv); fix or remove it, or run without --strict to skip such entries'));
  });
});

describe('reading lines and JSON', () => {
  it('numbers every line, skips blank ones, drops a BOM and CR line ends, counts lines not in UTF-8', () => {
    const dir = tempDir();
    const file = write(path.join(dir, 'c.txt'), Buffer.concat([Buffer.from('\uFEFFfirst\r\n\n  \nfourth\r\n'), Buffer.from([0xc3, 0x28, 0x0a]), Buffer.from('last \uFEFF')]));
    const p = new Problems(file, false);
    expect(readLines(file, p)).toEqual([
      { line: 'first', no: 1 },
      { line: 'fourth', no: 4 },
      { line: 'last \uFEFF', no: 6 },
    ]);
    expect(p.summary()).toBe(`warning: skipped 1 lines not in UTF-8 (${file}:5) in ${file}; pass --strict to stop at the first instead`);
  });

  it('a file that starts with a blank line', () => {
    const file = write(path.join(tempDir(), 'c.txt'), '\nsecond\nthird\n');
    expect(readLines(file, new Problems(file, false))).toEqual([
      { line: 'second', no: 2 },
      { line: 'third', no: 3 },
    ]);
  });

  it('a JSON syntax error is one line naming the file', () => {
    const dir = tempDir();
    const file = write(path.join(dir, 'x.json'), '{"a": 1,\n oops}');
    let message = '';
    try {
      readJson(file);
    } catch (e) {
      expect(e).toBeInstanceOf(DataError);
      message = (e as Error).message;
    }
    expect(message).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is not valid JSON \\([^\\n]+\\); check the file$`));
    expect(readJson(write(path.join(dir, 'y.json'), '{"a": [1]}'))).toEqual({ a: [1] });
  });
});

describe('merging records per picture', () => {
  it('joins captions of the same picture in first-seen order, drops repeats and empty ones (counted), keeps the first split', () => {
    const p = new Problems('f', false);
    const merged = mergeRecords(
      [
        { image: '/b.png', captions: ['A  Dog ', 'a dog'] },
        { image: '/a.png', captions: ['one'], split: 'test' },
        { image: '/b.png', captions: ['', 'two'], split: 'val' },
        { image: '/c.png', captions: ['   '] },
        { image: '/a.png', captions: ['two'], split: 'train' },
      ],
      p,
    );
    expect(merged).toEqual([
      { image: '/b.png', captions: ['a dog', 'two'] },
      { image: '/a.png', captions: ['one', 'two'], split: 'test' },
    ]);
    expect(p.count('empty captions')).toBe(2);
    expect(p.summary()).toContain('2 empty captions (/b.png, /c.png)');
  });
});

describe('caption<TAB>path TSV (Conceptual Captions)', () => {
  it('splits at the last tab, resolves paths beside the file, counts lines without a tab and URLs of any scheme', () => {
    const dir = tempDir();
    const file = write(path.join(dir, 'sub', 'cc.tsv'), 'a cat\tsits\t pics/a.png \nno tab here\nweb\tHTTPS://x.invalid/a.jpg\nbucket\ts3://b/k.jpg\nlocal\t../up.jpg\n');
    const p = new Problems(file, false);
    expect(readCaptionUrlTsv(file, p)).toEqual([
      { image: path.join(dir, 'sub', 'pics', 'a.png'), captions: ['a cat\tsits'] },
      { image: path.join(dir, 'up.jpg'), captions: ['local'] },
    ]);
    expect(p.count('lines without a tab')).toBe(1);
    expect(p.count('URLs (not fetchable: download the images and put local paths in the file)')).toBe(2);
    expect(p.summary()).toContain(`(${file}:2)`);
    expect(p.summary()).toContain(`(${file}:3, ${file}:4)`);
  });
});

describe('COCO caption files', () => {
  const coco = (images: { id: number | string; file_name: string }[], annotations: { image_id: number | string; caption?: string }[]) => JSON.stringify({ images, annotations });

  it('joins annotations to pictures by id, a number or a string; an unknown id or a caption-less annotation adds no caption', () => {
    const dir = tempDir();
    touch(path.join(dir, 'one.jpg'));
    const file = write(
      path.join(dir, 'caps.json'),
      coco(
        [
          { id: 1, file_name: 'one.jpg' },
          { id: '2', file_name: 'two.jpg' },
        ],
        [
          { image_id: '1', caption: 'first' },
          { image_id: 2, caption: 'second' },
          { image_id: 9, caption: 'nobody' },
          { image_id: 1 },
        ],
      ),
    );
    expect(readCoco(file)).toEqual([
      { image: path.join(dir, 'one.jpg'), captions: ['first'] },
      { image: path.join(dir, 'two.jpg'), captions: ['second'] },
      { image: path.join(dir, 'one.jpg'), captions: [''] },
    ]);
  });

  it('finds the pictures beside the file, in images/ or Images/, one folder up, in ../images/, or in the folder named after captions_<name>.json', async () => {
    const cases: [string, string][] = [
      ['ann', 'ann'],
      ['ann', 'ann/images'],
      ['ann', 'ann/Images'],
      ['ann', '.'],
      ['ann', 'images'],
      ['ann', 'ann/val2017'],
      ['ann', 'val2017'],
    ];
    for (const [annDir, imgDir] of cases) {
      const dir = tempDir();
      touch(path.join(dir, imgDir, 'p.jpg'));
      const file = write(path.join(dir, annDir, 'captions_val2017.json'), coco([{ id: 1, file_name: 'p.jpg' }], [{ image_id: 1, caption: 'c' }]));
      expect(readCoco(file)[0]!.image, imgDir).toBe(path.join(dir, imgDir, 'p.jpg'));
    }
    // Not found anywhere: beside the file (where the missing-image warning then points).
    const dir = tempDir();
    const file = write(path.join(dir, 'ann', 'captions_val2017.json'), coco([{ id: 1, file_name: 'p.jpg' }], [{ image_id: 1, caption: 'c' }]));
    expect(readCoco(file)[0]!.image).toBe(path.join(dir, 'ann', 'p.jpg'));
    // The named folder only for a captions_<name>.json.
    const other = tempDir();
    touch(path.join(other, 'ann', 'val2017', 'p.jpg'));
    const plain = write(path.join(other, 'ann', 'mine.json'), coco([{ id: 1, file_name: 'p.jpg' }], [{ image_id: 1, caption: 'c' }]));
    expect(readCoco(plain)[0]!.image).toBe(path.join(other, 'ann', 'p.jpg'));
  });

  it('a COCO file without pictures gives no pairs', () => {
    const file = write(path.join(tempDir(), 'captions_x.json'), coco([], []));
    expect(readCoco(file)).toEqual([]);
  });

  it('what counts as COCO, and the message when it is not', () => {
    expect(isCoco({ images: [], annotations: [] })).toBe(true);
    expect(isCoco({ images: [], annotations: [{ image_id: 1, caption: 'c' }] })).toBe(true);
    expect(isCoco({ images: [], annotations: [{ image_id: 1, bbox: [] }] })).toBe(false);
    expect(isCoco({ images: [], annotations: {} })).toBe(false);
    expect(isCoco({ annotations: [] })).toBe(false);
    const file = write(path.join(tempDir(), 'x.json'), '{"images": []}');
    expect(() => readCoco(file)).toThrow(new DataError(`${file} is not a COCO caption file (needs images[] with file_name and annotations[] with image_id and caption)`));
  });
});

describe('Karpathy split files', () => {
  it('pictures under their filepath, raw sentences or else joined tokens, restval as train, no split when none is given', () => {
    const dir = tempDir();
    touch(path.join(dir, 'val2014', 'a.jpg'));
    const file = write(
      path.join(dir, 'dataset_coco.json'),
      JSON.stringify({
        images: [
          { filepath: 'val2014', filename: 'a.jpg', split: 'restval', sentences: [{ raw: 'A cat.', tokens: ['x'] }, { tokens: ['a', 'dog'] }, {}] },
          { filepath: 'train2014', filename: 'b.jpg', split: 'val', sentences: [{ raw: 'B' }] },
          { filename: 'c.jpg', sentences: [] },
          { filename: 'd.jpg', split: '' },
        ],
      }),
    );
    expect(readKarpathy(file)).toEqual([
      { image: path.join(dir, 'val2014', 'a.jpg'), captions: ['A cat.', 'a dog', ''], split: 'train' },
      { image: path.join(dir, 'train2014', 'b.jpg'), captions: ['B'], split: 'val' },
      { image: path.join(dir, 'c.jpg'), captions: [] },
      { image: path.join(dir, 'd.jpg'), captions: [] },
    ]);
  });

  it("finds Flickr's picture folders beside the file or one folder up", () => {
    for (const [sub, where] of [['Flicker8k_Dataset', 'x'], ['Flickr8k_Dataset', 'x'], ['flickr30k-images', 'x'], ['Flickr30k_Dataset', 'x'], ['Flickr8k_Dataset', '.'], ['flickr30k-images', '.']] as const) {
      const dir = tempDir();
      touch(path.join(dir, where, sub, 'a.jpg'));
      const file = write(path.join(dir, 'x', 'dataset_flickr.json'), JSON.stringify({ images: [{ filename: 'a.jpg', split: 'test', sentences: [{ raw: 'r' }] }] }));
      expect(readKarpathy(file)[0]!.image, `${where}/${sub}`).toBe(path.join(dir, where, sub, 'a.jpg'));
    }
  });

  it('what counts as a Karpathy file, and the message when it is not', () => {
    expect(isKarpathy({ images: [{ filename: 'a', sentences: [] }] })).toBe(true);
    expect(isKarpathy({ images: [] })).toBe(false);
    expect(isKarpathy({ images: [{ file_name: 'a', sentences: [] }] })).toBe(false);
    expect(isKarpathy({ images: [{ filename: 'a' }] })).toBe(false);
    expect(isKarpathy({ images: {} })).toBe(false);
    const file = write(path.join(tempDir(), 'x.json'), '{"images": []}');
    expect(() => readKarpathy(file)).toThrow(new DataError(`${file} is not a Karpathy split file (needs images[] with filename, split and sentences)`));
  });
});

describe('Flickr8k token files', () => {
  it('image#n<TAB>caption, pictures found in any of the usual folders here or one up, splits from the three lists', () => {
    for (const [where, sub] of [['.', 'Flicker8k_Dataset'], ['.', 'Flickr8k_Dataset'], ['.', 'Images'], ['.', 'images'], ['.', '.'], ['..', 'Flickr8k_Dataset'], ['..', 'Images'], ['..', '.']] as const) {
      const dir = tempDir();
      const text = path.join(dir, 'text');
      touch(path.join(text, where, sub, 'a.jpg'));
      const file = write(path.join(text, 'Flickr8k.token.txt'), 'a.jpg#0\tA child .\nno tab\n b.jpg#12 \tA dog .\nc.jpg#1\tA cat\nd.jpg#0\tnone\n');
      write(path.join(text, 'Flickr_8k.trainImages.txt'), 'a.jpg\n');
      write(path.join(text, 'Flickr_8k.devImages.txt'), ' b.jpg \n');
      write(path.join(text, 'Flickr_8k.testImages.txt'), 'c.jpg\n');
      const p = new Problems(file, false);
      const root = path.join(text, where, sub);
      expect(readFlickrTokens(file, p), `${where}/${sub}`).toEqual([
        { image: path.join(root, 'a.jpg'), captions: ['A child .'], split: 'train' },
        { image: path.join(root, 'b.jpg'), captions: ['A dog .'], split: 'val' },
        { image: path.join(root, 'c.jpg'), captions: ['A cat'], split: 'test' },
        { image: path.join(root, 'd.jpg'), captions: ['none'] },
      ]);
      expect(p.count('lines without a tab')).toBe(1);
    }
  });

  it('pictures found nowhere: the first usual folder, where the missing-image warning then points', () => {
    const dir = tempDir();
    const file = write(path.join(dir, 'Flickr8k.token.txt'), 'a.jpg#0\tA child .\n');
    expect(readFlickrTokens(file, new Problems(file, false))[0]!.image).toBe(path.join(dir, 'Flicker8k_Dataset', 'a.jpg'));
    const empty = write(path.join(dir, 'e', 'Flickr8k.token.txt'), '\n');
    expect(readFlickrTokens(empty, new Problems(empty, false))).toEqual([]);
  });
});

describe('captions.tsv and captions.jsonl', () => {
  it('tsv: image<TAB>caption, a header row on line 1 only, paths beside the file', () => {
    for (const head of ['image', 'FILE', 'filename', 'Path']) {
      const dir = tempDir();
      const file = write(path.join(dir, 'captions.tsv'), `${head}\tcaption\n a.png \tA\tB\nnothing\nimage\tsecond\n`);
      const p = new Problems(file, false);
      expect(readCaptionsTsv(file, p), head).toEqual([
        { image: path.join(dir, 'a.png'), captions: ['A\tB'] },
        { image: path.join(dir, 'image'), captions: ['second'] },
      ]);
      expect(p.summary()).toContain(`1 lines without a tab (${file}:3)`);
    }
    const dir = tempDir();
    const file = write(path.join(dir, 'captions.tsv'), 'images\tx\n');
    expect(readCaptionsTsv(file, new Problems(file, false))).toEqual([{ image: path.join(dir, 'images'), captions: ['x'] }]);
  });

  it('jsonl: image or file_name, caption or captions (strings only), a split kept, bad lines counted by kind', () => {
    const dir = tempDir();
    const lines = [
      { image: 'a.png', caption: 'A', split: 'val' },
      { file_name: 'b.png', captions: ['B', 3, 'C'], split: 7 },
      { image: 5, file_name: 'c.png', caption: 'C' },
      { caption: 'no image' },
      { image: 'd.png', captions: [1] },
      { image: 'e.png', caption: 4 },
      { image: '', caption: 'empty name' },
    ];
    const file = write(path.join(dir, 'captions.jsonl'), [...lines.map((l) => JSON.stringify(l)), '[1'].join('\n'));
    const p = new Problems(file, false);
    expect(readCaptionsJsonl(file, p)).toEqual([
      { image: path.join(dir, 'a.png'), captions: ['A'], split: 'val' },
      { image: path.join(dir, 'b.png'), captions: ['B', 'C'] },
      { image: path.join(dir, 'c.png'), captions: ['C'] },
    ]);
    expect(p.summary()).toBe(
      `warning: skipped 2 lines without an "image" field (${file}:4, ${file}:7); 2 empty captions (${file}:5, ${file}:6); 1 lines that are not JSON (${file}:8) in ${file}; pass --strict to stop at the first instead`,
    );
  });
});

describe('which format a path is read as', () => {
  const folder = (...names: string[]) => {
    const dir = tempDir();
    for (const n of names) write(path.join(dir, n), n.endsWith('.json') ? '{"images": [], "annotations": []}' : 'a.png\tcap\n');
    return dir;
  };
  const detected = (dir: string) => {
    const d = detectFormat(dir);
    return [d.format, path.relative(dir, d.file)];
  };

  it('in a folder: captions.tsv, then captions.jsonl, dataset_*.json, Flickr8k.token.txt, captions_*.json, annotations/captions_*.json, any .tsv', () => {
    expect(detected(folder('captions.jsonl', 'dataset_x.json', 'Flickr8k.token.txt', 'captions_b.json', 'other.tsv', 'captions.tsv'))).toEqual(['captions-tsv', 'captions.tsv']);
    expect(detected(folder('dataset_x.json', 'Flickr8k.token.txt', 'captions_b.json', 'other.tsv', 'captions.jsonl'))).toEqual(['captions-jsonl', 'captions.jsonl']);
    expect(detected(folder('Flickr8k.token.txt', 'captions_b.json', 'other.tsv', 'dataset_x.json'))).toEqual(['coco', 'dataset_x.json']);
    expect(detected(folder('captions_b.json', 'other.tsv', 'Flickr8k.token.txt'))).toEqual(['flickr8k', 'Flickr8k.token.txt']);
    expect(detected(folder('other.tsv', 'annotations/captions_a.json', 'captions_b.json', 'captions_a.json'))).toEqual(['coco', 'captions_a.json']);
    expect(detected(folder('other.tsv', 'annotations/captions_b.json', 'annotations/captions_a.json', 'annotations/instances_a.json'))).toEqual(['coco', path.join('annotations', 'captions_a.json')]);
    expect(detected(folder('z.tsv', 'b.tsv', 'a.txt', 'dataset-x.json', 'captions_.json'))).toEqual(['captions-tsv', 'b.tsv']);
    // Backups and look-alikes are not the caption files.
    expect(detected(folder('old_dataset_x.json', 'dataset_x.json.bak', 'xcaptions_a.json', 'captions_a.json.bak', 'c.tsv'))).toEqual(['captions-tsv', 'c.tsv']);
    expect(detected(folder('c.tsv', 'annotations/xcaptions_a.json', 'annotations/captions_a.json.bak'))).toEqual(['captions-tsv', 'c.tsv']);
    const none = folder('dataset-x.json', 'readme.txt', 'captions_x.jsonx', 'xcaptions.tsvx');
    expect(() => detectFormat(none)).toThrow(
      new DataError(
        `no dataset recognised in ${none}; expected a folder with captions.tsv or captions.jsonl, a COCO captions_*.json, a Karpathy dataset_*.json, Flickr8k.token.txt, or a caption<TAB>path .tsv`,
      ),
    );
  });

  it('a file: by its name, and for .tsv/.txt by which side of the tab names a picture', () => {
    const dir = tempDir();
    const fmt = (name: string, text: string) => detectFormat(write(path.join(dir, name), text)).format;
    expect(fmt('any.jsonl', '')).toBe('captions-jsonl');
    expect(fmt('k.json', JSON.stringify({ images: [{ filename: 'a', sentences: [] }], annotations: [] }))).toBe('karpathy');
    expect(fmt('c.json', '{"images": [], "annotations": []}')).toBe('coco');
    expect(fmt('Flickr30k.TOKEN.txt', 'x')).toBe('flickr8k');
    // Every picture extension, either case, on either side.
    for (const ext of ['jpg', 'JPEG', 'png', 'webp', 'gif', 'svg', 'avif', 'tif', 'TIFF', 'bmp']) {
      expect(fmt('l.tsv', `a.${ext}\ta caption\n`), ext).toBe('captions-tsv');
      expect(fmt('r.txt', `a caption\tdir/a.${ext}\n`), ext).toBe('cc-tsv');
    }
    expect(fmt('u.tsv', 'a caption\thttp://x.invalid/a\n')).toBe('cc-tsv');
    expect(fmt('u2.tsv', 'a caption\thttps://x.invalid/a\n')).toBe('cc-tsv');
    // Lines without a tab are passed over; the first line that decides, decides.
    expect(fmt('h.tsv', 'no tab\nb.png\tx\tc.png\na.png\tcap\n')).toBe('cc-tsv');
    expect(fmt('h2.tsv', 'no tab\nfirst\tsecond\n a.png \t cap \n')).toBe('captions-tsv');
    // Only the first five lines with a tab are looked at.
    expect(() => fmt('late.tsv', `${'x\ty\n'.repeat(5)}a.png\tcap\n`)).toThrow(/no line names an image file on either side of a tab/);
    expect(fmt('late2.tsv', `${'x\ty\n'.repeat(4)}a.png\tcap\n`)).toBe('captions-tsv');
    // A captions.tsv is image<TAB>caption even when no line shows it.
    const d2 = tempDir();
    expect(detectFormat(write(path.join(d2, 'captions.tsv'), 'x\ty\n')).format).toBe('captions-tsv');
    const odd = write(path.join(dir, 'odd.tsv'), 'x\ty\n');
    expect(() => detectFormat(odd)).toThrow(new DataError(`${odd}: no line names an image file on either side of a tab; expected a folder with captions.tsv or captions.jsonl, a COCO captions_*.json, a Karpathy dataset_*.json, Flickr8k.token.txt, or a caption<TAB>path .tsv`));
    const json = write(path.join(dir, 'n.json'), '{"x": 1}');
    expect(() => detectFormat(json)).toThrow(new DataError(`${json} is neither a COCO caption file nor a Karpathy split file; expected a folder with captions.tsv or captions.jsonl, a COCO captions_*.json, a Karpathy dataset_*.json, Flickr8k.token.txt, or a caption<TAB>path .tsv`));
    const csv = write(path.join(dir, 'n.csv'), 'a.png,x');
    expect(() => detectFormat(csv)).toThrow(new DataError(`unknown dataset format for ${csv}; expected a folder with captions.tsv or captions.jsonl, a COCO captions_*.json, a Karpathy dataset_*.json, Flickr8k.token.txt, or a caption<TAB>path .tsv`));
  });
});

describe('opening a user dataset', () => {
  it('verify: none keeps every present file, header drops what has no picture header, full also what does not decode', async () => {
    const dir = tempDir();
    await writeImage(path.join(dir, 'a.png'), 9, 7, 1);
    writeCorrupt(path.join(dir, 'bad.png'));
    // A PNG cut inside its pixel data: the size is readable, the pixels are not.
    const png = fs.readFileSync(path.join(dir, 'a.png'));
    write(path.join(dir, 'cut.png'), png.subarray(0, png.length - 30));
    write(path.join(dir, 'captions.tsv'), 'a.png\tA\nbad.png\tB\ncut.png\tC\n');
    const names = async (verify: 'none' | 'header' | 'full') => (await readUserDataset(dir, { verify, warn: () => {} })).records.map((r) => path.basename(r.image));
    expect(await names('none')).toEqual(['a.png', 'bad.png', 'cut.png']);
    expect(await names('header')).toEqual(['a.png', 'cut.png']);
    expect(await names('full')).toEqual(['a.png']);
    expect(await names(undefined as never)).toEqual(['a.png', 'cut.png']);
    const r = await readUserDataset(dir, { verify: 'full', warn: () => {} });
    expect(r.problems.summary()).toContain(`2 corrupt or unreadable images (${path.join(dir, 'bad.png')}, ${path.join(dir, 'cut.png')})`);
    expect([r.format, r.file, r.root]).toEqual(['captions-tsv', path.join(dir, 'captions.tsv'), dir]);
  });

  it('warns through console.warn with the coca: prefix unless told where, and only when something was skipped', async () => {
    const dir = tempDir();
    await writeImage(path.join(dir, 'a.png'), 5, 5, 1);
    write(path.join(dir, 'captions.tsv'), 'a.png\tA\nmissing.png\tB\n');
    const seen: unknown[][] = [];
    const original = console.warn;
    console.warn = (...a: unknown[]) => void seen.push(a);
    try {
      await readUserDataset(dir);
      write(path.join(dir, 'captions.tsv'), 'a.png\tA\n');
      await readUserDataset(dir);
    } finally {
      console.warn = original;
    }
    expect(seen).toEqual([[`coca: warning: skipped 1 missing images (${path.join(dir, 'missing.png')}) in ${path.join(dir, 'captions.tsv')}; pass --strict to stop at the first instead`]]);
  });

  it('the messages of a dataset that gives nothing', async () => {
    const dir = tempDir();
    const tsv = write(path.join(dir, 'captions.tsv'), '\n\n');
    await expect(readUserDataset(dir)).rejects.toThrow(new DataError(`${tsv} holds no image–caption pairs; add some, or point --data at another dataset`));
    write(tsv, 'x.png\ta\ny.png\tb\n');
    await expect(readUserDataset(dir, { warn: () => {} })).rejects.toThrow(new DataError(`none of the 2 images named in ${tsv} exist (first: ${path.join(dir, 'x.png')}); check where the image files are`));
    writeCorrupt(path.join(dir, 'x.png'));
    await expect(readUserDataset(dir, { warn: () => {} })).rejects.toThrow(new DataError(`no usable image–caption pairs in ${tsv} (2 entries skipped); see the warning above`));
    // Only skipped lines: no pairs, but the problems are what to report.
    write(tsv, 'no tab\n');
    await expect(readUserDataset(dir, { warn: () => {} })).rejects.toThrow(/no usable image–caption pairs .*\(1 entries skipped\)/);
  });

  it('a split by name, all of them, the seed of the hashed split; the missing split names those there are', async () => {
    const dir = tempDir();
    const lines: string[] = [];
    for (let i = 0; i < 40; i++) {
      touch(path.join(dir, `p${i}.png`));
      lines.push(`p${i}.png\tcaption ${i}`);
    }
    write(path.join(dir, 'captions.tsv'), lines.join('\n'));
    const open = (split: string, seed?: number) => openUserDataset(dir, { split, imageSize: 8, verify: 'none', ...(seed === undefined ? {} : { seed }) });
    const all = await open('all');
    expect([all.name, all.split, all.imageSize, all.length]).toEqual([path.basename(dir), 'all', 8, 40]);
    const parts = await Promise.all(['train', 'val', 'test'].map((s) => open(s).catch(() => null)));
    expect(parts.reduce((a, d) => a + (d?.length ?? 0), 0)).toBe(40);
    const ids = (d: FileDataset | null) => (d ? Array.from({ length: d.length }, (_, i) => d.meta(i).id) : []);
    const seeded = await Promise.all(['train', 'val', 'test'].map((s) => open(s, 5).catch(() => null)));
    expect(seeded.map(ids)).not.toEqual(parts.map(ids));
    expect((await open('train', 0)).length).toBe(parts[0]!.length);
    const have = ['test', 'train', 'val'].filter((s) => parts[['train', 'val', 'test'].indexOf(s)] !== null);
    expect(have).toContain('train');
    await expect(open('dev')).rejects.toThrow(new DataError(`${dir} has no items in split 'dev' (it has ${have.join(', ')}, and 'all')`));
  });
});

describe('the hashed split', () => {
  it('all three splits occur, about 90/5/5', () => {
    const count: Record<string, number> = {};
    for (let i = 0; i < 4000; i++) {
      const s = splitOf({ image: `/d/${i}.png`, captions: ['c'] }, 1, '/d');
      count[s] = (count[s] ?? 0) + 1;
    }
    expect(Object.keys(count).sort()).toEqual(['test', 'train', 'val']);
    expect(Math.abs(count['test']! / 4000 - 0.05)).toBeLessThan(0.015); // binomial sd 0.0034
    expect(Math.abs(count['val']! / 4000 - 0.05)).toBeLessThan(0.015);
  });
});

describe('FileDataset', () => {
  it('captions, id and source of each item; an index out of range names the range', () => {
    const ds = new FileDataset('d', 'val', 16, [
      { image: '/x/a.png', captions: ['one', 'two'] },
      { image: '/x/b.png', captions: ['three'] },
    ]);
    expect([ds.name, ds.split, ds.imageSize, ds.length]).toEqual(['d', 'val', 16, 2]);
    expect(ds.captions(1)).toEqual(['three']);
    expect(ds.meta(0)).toEqual({ id: '/x/a.png' });
    expect(ds.source(1)).toEqual({ kind: 'file', path: '/x/b.png' });
    expect(() => ds.captions(2)).toThrow(new RangeError('item 2 out of range 0..1'));
    expect(() => ds.meta(-1)).toThrow(RangeError);
    ds.close();
  });
});
