import { describe, expect, it } from 'vitest';
import { PTB_PUNCTUATION, tokenizeCaption } from '../../../src/eval/tokenize.ts';

// Expected outputs are what Stanford's PTBTokenizer (-lowerCase) followed by coco-caption's
// punctuation filter produces for these inputs: punctuation split off and dropped, clitics split.
describe('tokenizeCaption (coco-caption PTB equivalent)', () => {
  it('lowercases and drops sentence punctuation', () => {
    expect(tokenizeCaption('A man riding a horse.')).toEqual(['a', 'man', 'riding', 'a', 'horse']);
    expect(tokenizeCaption('  Two dogs,  playing!\n')).toEqual(['two', 'dogs', 'playing']);
  });

  it('drops brackets and quotes, splits clitics, keeps inner hyphens', () => {
    expect(tokenizeCaption('The dog\'s ball (red) -- "new"')).toEqual(['the', 'dog', "'s", 'ball', 'red', 'new']);
    expect(tokenizeCaption("It doesn't fit; 28-year-old chef...")).toEqual(['it', 'does', "n't", 'fit', '28-year-old', 'chef']);
  });

  it('leaves nothing of a punctuation-only caption', () => {
    expect(tokenizeCaption(' . , -- ... ')).toEqual([]);
    expect(tokenizeCaption('')).toEqual([]);
  });

  it('uses coco-caption\'s list of 17 punctuation tokens', () => {
    expect(PTB_PUNCTUATION.size).toBe(17);
    for (const t of ['-LRB-', '``', "''", '...', '--']) expect(PTB_PUNCTUATION.has(t)).toBe(true);
  });
});
