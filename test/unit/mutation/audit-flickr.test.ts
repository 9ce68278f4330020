// src/data/readers/flickr.ts's picture folder, found from the token file's first name (a8f99cd
// trims that name before cutting its #n, as every other line's): a first line with spaces before
// its tab must still find the folder the pictures are in, here the second candidate (Images/, not
// Flicker8k_Dataset/). Expected paths are the header's layout written out by hand.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Problems } from '../../../src/data/readers/common.ts';
import { readFlickrTokens } from '../../../src/data/readers/flickr.ts';
import { tempDir } from '../data/fixtures.ts';

describe('the picture folder of a Flickr8k token file', () => {
  it('is found from a first name followed by spaces before the tab', () => {
    const dir = tempDir();
    fs.mkdirSync(path.join(dir, 'Images'));
    fs.writeFileSync(path.join(dir, 'Images', 'a.jpg'), 'x');
    const tokens = path.join(dir, 'Flickr8k.token.txt');
    fs.writeFileSync(tokens, 'a.jpg#0  \tA dog.\nb.jpg#3\tA cat.\n');
    const p = new Problems(tokens, false);
    expect(readFlickrTokens(tokens, p)).toEqual([
      { image: path.join(dir, 'Images', 'a.jpg'), captions: ['A dog.'] },
      { image: path.join(dir, 'Images', 'b.jpg'), captions: ['A cat.'] },
    ]);
    expect(p.total).toBe(0);
  });

  it('falls back to the first candidate when the first picture is nowhere', () => {
    const dir = tempDir();
    fs.mkdirSync(path.join(dir, 'Images'));
    const tokens = path.join(dir, 'Flickr8k.token.txt');
    fs.writeFileSync(tokens, 'gone.jpg#1\tA.\n');
    expect(readFlickrTokens(tokens, new Problems(tokens, false))).toEqual([{ image: path.join(dir, 'Flicker8k_Dataset', 'gone.jpg'), captions: ['A.'] }]);
  });
});
