// The readers of users' datasets (src/data/readers) in the cases the third mutation pass left
// "untested" (docs/mutation.md, ninth pass): a tab at the very start of a line, a carriage return
// inside one, `x://` inside a local path, names that only look like a format's file name, a
// `#` inside a Flickr picture name, a JSON whose first entry is null, and the hashed split of a
// picture in a subfolder. Each expected value is what the format's rule says, worked by hand.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readCaptionUrlTsv } from '../../../src/data/readers/cc.ts';
import { isCoco, isKarpathy, readCoco } from '../../../src/data/readers/coco.ts';
import { Problems, readLines } from '../../../src/data/readers/common.ts';
import { detectFormat } from '../../../src/data/readers/detect.ts';
import { readFlickrTokens } from '../../../src/data/readers/flickr.ts';
import { readCaptionsJsonl, readCaptionsTsv } from '../../../src/data/readers/folder.ts';
import { splitOf } from '../../../src/data/readers/index.ts';
import { hashString } from '../../../src/data/rng.ts';
import { tempDir } from '../data/fixtures.ts';

const write = (file: string, text: string) => {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
  return file;
};

describe('line reading', () => {
  it('drops only a carriage return that ends a line, not one inside it', () => {
    const file = write(path.join(tempDir(), 'c.txt'), 'a\rb\r\nc\r\r\n');
    expect(readLines(file, new Problems(file, false))).toEqual([
      { line: 'a\rb', no: 1 },
      { line: 'c\r', no: 2 },
    ]);
  });
});

describe('a tab as the first character of a line is a tab', () => {
  it('caption<TAB>path: an empty caption (merged away later), not a line without a tab', () => {
    const dir = tempDir();
    const file = write(path.join(dir, 'cc.tsv'), '\tpic.png\n');
    const p = new Problems(file, false);
    expect(readCaptionUrlTsv(file, p)).toEqual([{ image: path.join(dir, 'pic.png'), captions: [''] }]);
    expect(p.total).toBe(0);
  });

  it('Flickr tokens and captions.tsv: an empty picture name, not a line without a tab', () => {
    const dir = tempDir();
    const tokens = write(path.join(dir, 'Flickr8k.token.txt'), 'a.jpg#0\tA\n\tB\n');
    const p = new Problems(tokens, false);
    const got = readFlickrTokens(tokens, p);
    expect(got.map((r) => [path.basename(r.image), r.captions])).toEqual([
      ['a.jpg', ['A']],
      ['Flicker8k_Dataset', ['B']], // the empty name joined to the first usual folder
    ]);
    expect(p.total).toBe(0);
    const tsv = write(path.join(dir, 'captions.tsv'), 'a.png\tA\n\tB\n');
    const q = new Problems(tsv, false);
    expect(readCaptionsTsv(tsv, q)).toEqual([
      { image: path.join(dir, 'a.png'), captions: ['A'] },
      { image: dir, captions: ['B'] },
    ]);
    expect(q.total).toBe(0);
  });

  it('a Flickr line without a tab is reported with its file and line number', () => {
    const dir = tempDir();
    const tokens = write(path.join(dir, 'Flickr8k.token.txt'), 'a.jpg#0\tA\nno tab here\n');
    const p = new Problems(tokens, false);
    readFlickrTokens(tokens, p);
    expect(p.summary()).toBe(`warning: skipped 1 lines without a tab (${tokens}:2) in ${tokens}; pass --strict to stop at the first instead`);
  });
});

describe('URLs are told from local paths by their start only', () => {
  it('caption<TAB>path: a local path with `x://` inside is a path', () => {
    const dir = tempDir();
    const file = write(path.join(dir, 'cc.tsv'), 'a dog\tsaved/http://x.org/a.png\n');
    const p = new Problems(file, false);
    // path.resolve folds the double slash: the file is saved/http:/x.org/a.png under the folder.
    expect(readCaptionUrlTsv(file, p)).toEqual([{ image: path.join(dir, 'saved', 'http:', 'x.org', 'a.png'), captions: ['a dog'] }]);
    expect(p.total).toBe(0);
  });

  it('format detection: a caption that mentions a URL does not make a caption<TAB>URL file', () => {
    const file = write(path.join(tempDir(), 'notes.tsv'), 'a\tsee http://x.org\n');
    expect(() => detectFormat(file)).toThrow(/notes\.tsv: no line names an image file on either side of a tab/);
  });
});

describe('COCO and Karpathy files whose first entry is null', () => {
  it('are not of the format (no TypeError)', () => {
    expect(isKarpathy({ images: [null] })).toBe(false);
    expect(isCoco({ images: [], annotations: [null] })).toBe(false);
  });

  it('captions_<name>.json names the picture folder only when the file name ends there', () => {
    const dir = tempDir();
    write(path.join(dir, 'val', 'a.jpg'), 'x');
    const coco = JSON.stringify({ images: [{ id: 1, file_name: 'a.jpg' }], annotations: [{ image_id: 1, caption: 'c' }] });
    expect(readCoco(write(path.join(dir, 'captions_val.json'), coco))[0]!.image).toBe(path.join(dir, 'val', 'a.jpg'));
    // captions_val.json.json is not captions_<name>.json: no folder named after it.
    expect(readCoco(write(path.join(dir, 'captions_val.json.json'), coco))[0]!.image).toBe(path.join(dir, 'a.jpg'));
  });
});

describe('which format a folder or file is read as', () => {
  it('captions_<name>.json with a name longer than one character, beside the data or in annotations/', () => {
    const empty = '{"images": [], "annotations": []}';
    const a = tempDir();
    write(path.join(a, 'captions_val2014.json'), empty);
    expect(detectFormat(a).file).toBe(path.join(a, 'captions_val2014.json'));
    const b = tempDir();
    write(path.join(b, 'annotations', 'captions_val2014.json'), empty);
    write(path.join(b, 'annotations', 'README.txt'), 'sorts before captions_');
    expect(detectFormat(b)).toEqual({ format: 'coco', file: path.join(b, 'annotations', 'captions_val2014.json') });
  });

  it('of two files of one kind, the first by name in JavaScript order (UTF-16 code units), not the directory listing (UTF-8 bytes)', () => {
    const dir = tempDir();
    // U+1F600 is the surrogate pair D83D DE00, before U+E000 in UTF-16; in UTF-8 (F0 … against
    // EE …) it comes after, which is the order Node lists a directory in.
    write(path.join(dir, '\u{1F600}.tsv'), 'a.png\ta caption\n');
    write(path.join(dir, '\uE000.tsv'), 'a caption\ta.png\n');
    expect(detectFormat(dir)).toEqual({ format: 'captions-tsv', file: path.join(dir, '\u{1F600}.tsv') });
  });

  it('*token.txt only at the end of the name', () => {
    const file = write(path.join(tempDir(), 'x.token.txt.tsv'), 'a.jpg\ta caption\n');
    expect(detectFormat(file).format).toBe('captions-tsv');
  });

  it('a line without a tab decides nothing, even one that ends in a picture name', () => {
    const file = write(path.join(tempDir(), 'list.tsv'), 'pictures: a.jpg\na.jpg\ta dog\n');
    expect(detectFormat(file).format).toBe('captions-tsv');
  });

  it('spaces after the picture name on the right of the tab', () => {
    const file = write(path.join(tempDir(), 'r.tsv'), 'a dog\ta.jpg  \n');
    expect(detectFormat(file).format).toBe('cc-tsv');
  });
});

describe('Flickr picture names', () => {
  it('only a final #n is the caption number (n of any length); a # inside the name stays', () => {
    const dir = tempDir();
    write(path.join(dir, 'Images', 'a#1b.jpg'), 'x');
    const tokens = write(path.join(dir, 'Flickr8k.token.txt'), 'a#1b.jpg#12\tA\na#1b.jpg#3\tB\n');
    const got = readFlickrTokens(tokens, new Problems(tokens, false));
    expect(got).toEqual([
      { image: path.join(dir, 'Images', 'a#1b.jpg'), captions: ['A'] },
      { image: path.join(dir, 'Images', 'a#1b.jpg'), captions: ['B'] },
    ]);
  });
});

describe('captions.tsv and captions.jsonl', () => {
  it('a first line is a header only when its name is exactly image, file, filename or path', () => {
    const dir = tempDir();
    const tsv = write(path.join(dir, 'captions.tsv'), 'myimage\tA\n');
    expect(readCaptionsTsv(tsv, new Problems(tsv, false))).toEqual([{ image: path.join(dir, 'myimage'), captions: ['A'] }]);
  });

  it('a file_name that is not a string is a line without an image', () => {
    const dir = tempDir();
    const jsonl = write(path.join(dir, 'captions.jsonl'), '{"file_name": 5, "caption": "A"}\n');
    const p = new Problems(jsonl, false);
    expect(readCaptionsJsonl(jsonl, p)).toEqual([]);
    expect(p.count('lines without an "image" field')).toBe(1);
  });
});

describe('the hashed split of a picture in a subfolder', () => {
  it('hashes the path relative to the dataset with / between folders', () => {
    // hashString is FNV-1a with fmix32, pinned by hand-computed values in data.test.ts.
    const expected = (rel: string, seed: number) => {
      const h = hashString(rel, seed) / 2 ** 32;
      return h < 0.9 ? 'train' : h < 0.95 ? 'val' : 'test';
    };
    for (let i = 0; i < 200; i++) {
      const rel = `d${i % 7}/p${i}.png`;
      expect(splitOf({ image: path.join('/data', ...rel.split('/')), captions: ['c'] }, 3, '/data'), rel).toBe(expected(rel, 3));
    }
  });
});
