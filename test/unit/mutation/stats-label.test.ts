// The contact sheet's caption strip (src/data/stats.ts) as the SVG markup it rasterises: the
// first caption, wrapped at cell/7 characters to two lines, XML-escaped, centred; and the sheet
// asking the dataset for its evaluation pictures. Expected markup written out by hand.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Dataset, ItemMeta } from '../../../src/data/dataset.ts';
import type { RgbImage } from '../../../src/data/image.ts';
import { captionLabelSvg, contactSheet, wrap } from '../../../src/data/stats.ts';
import { tempDir } from '../data/fixtures.ts';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

const OPEN = (cell: number, h: number) =>
  `<svg xmlns="http://www.w3.org/2000/svg" width="${cell}" height="${h}"><rect width="100%" height="100%" fill="#f4f4f4"/>`;
const TEXT = (x: number, y: number) => `<text x="${x}" y="${y}" font-family="DejaVu Sans, sans-serif" font-size="11" text-anchor="middle" fill="#111">`;

describe('wrap', () => {
  it('joins words while a line stays within the width (a line of exactly the width fits)', () => {
    expect(wrap('ab cd', 5, 2)).toEqual(['ab cd']);
    expect(wrap('ab cd', 4, 2)).toEqual(['ab', 'cd']);
    expect(wrap('a b c', 3, 5)).toEqual(['a b', 'c']);
  });

  it('never splits a word, even one longer than the width, and starts no line empty', () => {
    expect(wrap('abcdefghijk', 5, 2)).toEqual(['abcdefghijk']);
    expect(wrap('ab abcdefghijk', 5, 3)).toEqual(['ab', 'abcdefghijk']);
  });

  it('no words, no lines', () => {
    expect(wrap('', 10, 2)).toEqual([]);
  });

  it('keeps maxLines lines; past them the last is cut to width − 1 characters and ends in …', () => {
    expect(wrap('aaa bbb', 3, 2)).toEqual(['aaa', 'bbb']);
    expect(wrap('aaa bbb ccc', 3, 2)).toEqual(['aaa', 'bb…']);
    expect(wrap('aaa bbb ccc ddd', 3, 1)).toEqual(['aa…']);
  });
});

describe('captionLabelSvg', () => {
  it('the first caption in two centred lines, 14 px apart, every XML special escaped', () => {
    // cell 76: lines of floor(76/7) = 10 characters; 'one <b> &' is 9, adding ' "q"' makes 13.
    const svg = captionLabelSvg([`one <b> & "q" it's`, 'second caption'], 76, 34);
    expect(svg).toBe(
      OPEN(76, 34) +
        `${TEXT(38, 13)}one &lt;b&gt; &amp;</text>` +
        `${TEXT(38, 27)}&quot;q&quot; it&apos;s</text>` +
        '</svg>',
    );
  });

  it('the line width is cell/7 rounded down: 11 characters do not fit a cell of 76 px', () => {
    expect(captionLabelSvg(['aaaaa bbbbb'], 76, 34)).toBe(`${OPEN(76, 34)}${TEXT(38, 13)}aaaaa</text>${TEXT(38, 27)}bbbbb</text></svg>`);
  });

  it('a caption with nothing to escape is kept as it is', () => {
    expect(captionLabelSvg(['plain'], 14, 20)).toBe(`${OPEN(14, 20)}${TEXT(7, 13)}plain</text></svg>`);
  });

  it('an item without captions gets the strip alone', () => {
    expect(captionLabelSvg([], 70, 34)).toBe(`${OPEN(70, 34)}</svg>`);
  });

  it('a third line is folded into the second, cut and ended with …', () => {
    // cell 35: 5 characters a line; 'ccccc' would be a third line.
    expect(captionLabelSvg(['aaaaa bbbbb ccccc'], 35, 34)).toBe(`${OPEN(35, 34)}${TEXT(17.5, 13)}aaaaa</text>${TEXT(17.5, 27)}bbbb…</text></svg>`);
  });
});

describe('contactSheet', () => {
  it('asks the dataset for evaluation pictures (no training augmentation on the sheet)', async () => {
    const modes: string[] = [];
    const ds: Dataset = {
      name: 'modes',
      split: 'val',
      length: 2,
      imageSize: 2,
      captions: () => ['x'],
      meta: (i: number): ItemMeta => ({ id: `m${i}` }),
      image: async (_i: number, mode: 'train' | 'eval'): Promise<RgbImage> => {
        modes.push(mode);
        return { data: new Uint8Array(2 * 2 * 3).fill(128), width: 2, height: 2 };
      },
      close: () => {},
    };
    const dir = tempDir('coca-stats-label-');
    dirs.push(dir);
    await contactSheet(ds, path.join(dir, 'sheet.png'), { cell: 8 });
    expect(modes).toEqual(['eval', 'eval']);
  });
});
