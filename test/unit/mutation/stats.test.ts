// `coca data stats` (src/data/stats.ts) against its header, on datasets small enough to count by
// hand: pairs, distinct captions, the word-length histogram, token lengths against the context,
// the share of words the training captions know, the bar chart, and the contact sheet's layout
// (tiles of one colour each, read back pixel by pixel from the PNG).
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import type { Dataset, ItemMeta } from '../../../src/data/dataset.ts';
import type { RgbImage } from '../../../src/data/image.ts';
import { Rng } from '../../../src/data/rng.ts';
import { contactSheet, histogramLines, splitStats, wordsOf } from '../../../src/data/stats.ts';
import type { Tokenizer } from '../../../src/data/tokenizer.ts';
import { tempDir } from '../data/fixtures.ts';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

/** Items with the given captions; item i's picture a w×h block of colour COLOURS[i]. */
const COLOURS = [
  [200, 30, 40],
  [20, 180, 60],
  [10, 20, 230],
  [250, 250, 0],
  [0, 120, 120],
];
function dataset(caps: string[][], sizes: [number, number][] = caps.map(() => [4, 4])): Dataset {
  return {
    name: 'hand',
    split: 'val',
    length: caps.length,
    imageSize: 4,
    captions: (i: number) => caps[i]!,
    meta: (i: number): ItemMeta => ({ id: `h${i}` }),
    image: async (i: number): Promise<RgbImage> => {
      const [w, h] = sizes[i]!;
      const data = new Uint8Array(w * h * 3);
      for (let p = 0; p < w * h; p++) data.set(COLOURS[i]!, p * 3);
      return { data, width: w, height: h };
    },
    close: () => {},
  };
}
/** A stand-in tokenizer: words + [SOT] + [EOT] tokens. */
const tok = { encode: (c: string) => new Int32Array(c.split(' ').filter(Boolean).length + 2) } as unknown as Tokenizer;

describe('splitStats', () => {
  const ds = dataset([['a dog', 'a  red dog'], ['a dog'], ['cat']]);

  it('counts images, pairs, distinct captions and caption lengths in words (runs of spaces are one gap)', () => {
    const s = splitStats(ds);
    expect(s.split).toBe('val');
    expect(s.images).toBe(3);
    expect(s.pairs).toBe(4);
    expect(s.distinctCaptions).toBe(3);
    expect([...s.wordHistogram.entries()].sort((a, b) => a[0] - b[0])).toEqual([
      [1, 1],
      [2, 2],
      [3, 1],
    ]);
    expect('tokens' in s).toBe(false);
    expect('wordCoverage' in s).toBe(false);
  });

  it('token lengths: mean over pairs, max, and how many exceed the context', () => {
    // 4, 5, 4, 3 tokens.
    expect(splitStats(ds, { tokenizer: tok, contextLength: 4 }).tokens).toEqual({ mean: 4, max: 5, overContext: 1 });
    expect(splitStats(ds, { tokenizer: tok, contextLength: 5 }).tokens).toEqual({ mean: 4, max: 5, overContext: 0 });
    expect(splitStats(ds, { tokenizer: tok }).tokens).toEqual({ mean: 4, max: 5, overContext: 0 });
    // No captions at all: a mean of 0, not NaN.
    expect(splitStats(dataset([[]]), { tokenizer: tok }).tokens).toEqual({ mean: 0, max: 0, overContext: 0 });
  });

  it("word coverage: the share of this split's words the training words hold; 1 when it has none", () => {
    // 2 + 3 + 2 + 1 words, of which a/dog: 2 + 2 + 2.
    expect(splitStats(ds, { trainWords: new Set(['a', 'dog']) }).wordCoverage).toBe(6 / 8);
    expect(splitStats(ds, { trainWords: new Set() }).wordCoverage).toBe(0);
    expect(splitStats(dataset([['']]), { trainWords: new Set(['a']) }).wordCoverage).toBe(1);
  });

  it('wordsOf: every word of every caption, no empty one', () => {
    expect([...wordsOf(ds)].sort()).toEqual(['a', 'cat', 'dog', 'red']);
  });
});

describe('histogramLines', () => {
  it('one line per length, shortest first: the length right-aligned in 3, a bar scaled to the largest count, the count', () => {
    const h = new Map([
      [10, 1],
      [1, 4],
      [3, 2],
    ]);
    expect(histogramLines(h, 8)).toEqual(['  1 ######## 4', '  3 #### 2', ' 10 ## 1']);
  });

  it('bars are 40 wide by default and never empty', () => {
    expect(histogramLines(new Map([[5, 3]]))).toEqual([`  5 ${'#'.repeat(40)} 3`]);
    expect(histogramLines(new Map([[1, 100], [2, 1]]), 40)[1]).toBe('  2 # 1');
  });
});

describe('contactSheet', () => {
  /** The distinct indices a sheet of `count` draws with `seed`, in drawing order. */
  const picks = (n: number, count: number, seed: number) => {
    const rng = new Rng(seed);
    const s = new Set<number>();
    while (s.size < count) s.add(rng.int(n));
    return [...s];
  };
  async function read(file: string) {
    const { data, info } = await sharp(file).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    return { info, at: (x: number, y: number) => [...data.subarray((y * info.width + x) * 3, (y * info.width + x) * 3 + 3)] };
  }

  it('lays out `count` seeded picks in `cols` columns of cell-px tiles, each above a grey label strip, on white', async () => {
    const dir = tempDir('coca-stats-');
    dirs.push(dir);
    const file = path.join(dir, 'sheet.png');
    const caps = [['one <b> & "q"'], ["two 'x'"], ['three'], ['four'], ['five']];
    await contactSheet(dataset(caps), file, { count: 3, cols: 2, cell: 8, seed: 5 });
    const { info, at } = await read(file);
    // 2 columns of 8 + 4 px; 2 rows of 8 + 34 + 4 px.
    expect([info.width, info.height]).toEqual([24, 92]);
    const order = picks(5, 3, 5);
    order.forEach((idx, k) => {
      const x = (k % 2) * 12;
      const y = Math.floor(k / 2) * 46;
      expect(at(x + 4, y + 4), `tile ${k}`).toEqual(COLOURS[idx]);
      expect(at(x, y + 8 + 33), `label ${k}`).toEqual([0xf4, 0xf4, 0xf4]);
    });
    // The gap between tiles and the unused fourth place stay white.
    expect(at(9, 4)).toEqual([255, 255, 255]);
    expect(at(12 + 4, 46 + 4)).toEqual([255, 255, 255]);
  });

  it('defaults: 48 picks (or every item), 8 columns, 128 px cells, seed 0; a picture is fitted whole, on white', async () => {
    const dir = tempDir('coca-stats-');
    dirs.push(dir);
    const file = path.join(dir, 'sheet.png');
    await contactSheet(dataset([['a'], ['b'], ['c']], [[4, 4], [4, 2], [4, 4]]), file);
    const { info, at } = await read(file);
    expect([info.width, info.height]).toEqual([8 * 132, 166]);
    const order = picks(3, 3, 0);
    const k = order.indexOf(1);
    // Item 1 is 4×2: contained in 128×128, it fills rows 32..95 of its tile.
    expect(at(k * 132 + 64, 10)).toEqual([255, 255, 255]);
    expect(at(k * 132 + 64, 64)).toEqual(COLOURS[1]);
    const other = order.findIndex((i) => i !== 1);
    expect(at(other * 132 + 64, 10)).toEqual(COLOURS[order[other]!]);
  });
});
