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

describe('tokenizeCaption on the built-in languages', () => {
  it('splits Chinese into characters and drops CJK punctuation; Cyrillic and Malay split on spaces', () => {
    expect(tokenizeCaption('挥手: 较浅肤色')).toEqual(['挥', '手', '较', '浅', '肤', '色']);
    expect(tokenizeCaption('美元二十五分硬币。')).toEqual(['美', '元', '二', '十', '五', '分', '硬', '币']);
    expect(tokenizeCaption('旗、冰岛「x」')).toEqual(['旗', '冰', '岛', 'x']);
    expect(tokenizeCaption('Морда собаки.')).toEqual(['морда', 'собаки']);
    expect(tokenizeCaption('lambai tangan: ton kulit cerah')).toEqual(['lambai', 'tangan', 'ton', 'kulit', 'cerah']);
  });
});
