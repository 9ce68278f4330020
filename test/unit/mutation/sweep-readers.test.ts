// Flickr8k's picture folder found from the first line (src/data/readers/flickr.ts:18): a survivor
// of this pass's re-run of the readers' earlier "untested" lines (the `.trim()` of the first
// name dropped). The reader looks for the pictures in Flicker8k_Dataset, Flickr8k_Dataset,
// Images, images or the token file's own folder, beside the token file or one folder up, and takes
// the first of those that holds the first line's picture; a name followed by spaces before the tab
// (`b.jpg#0 <TAB>…`) is the picture b.jpg, as on every other line (a8f99cd).
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Problems } from '../../../src/data/readers/common.ts';
import { readFlickrTokens } from '../../../src/data/readers/flickr.ts';
import { tempDir } from '../data/fixtures.ts';

describe('Flickr8k: the picture folder', () => {
  it("is found from a first name padded with spaces before its tab, one folder up", () => {
    const top = tempDir();
    const text = path.join(top, 'Flickr8k_text');
    fs.mkdirSync(text);
    // The pictures one folder up, in the second candidate name (roots: text/Flicker8k_Dataset,
    // top/Flicker8k_Dataset, text/Flickr8k_Dataset, top/Flickr8k_Dataset, ...).
    const pics = path.join(top, 'Flickr8k_Dataset');
    fs.mkdirSync(pics);
    fs.writeFileSync(path.join(pics, 'b.jpg'), 'jpeg');
    const tokens = path.join(text, 'Flickr8k.token.txt');
    fs.writeFileSync(tokens, 'b.jpg#0  \tA dog.\nb.jpg#1\tA brown dog.\n');
    const got = readFlickrTokens(tokens, new Problems(tokens, false));
    expect(got).toEqual([
      { image: path.join(pics, 'b.jpg'), captions: ['A dog.'] },
      { image: path.join(pics, 'b.jpg'), captions: ['A brown dog.'] },
    ]);
  });

  it('an empty token file gives no pairs (and no TypeError)', () => {
    const tokens = path.join(tempDir(), 'Flickr8k.token.txt');
    fs.writeFileSync(tokens, '');
    expect(readFlickrTokens(tokens, new Problems(tokens, false))).toEqual([]);
  });
});
