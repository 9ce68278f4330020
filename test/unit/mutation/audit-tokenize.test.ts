// src/eval/tokenize.ts's CJK punctuation (bb87deb): the header says it "separates tokens like a
// space". Between Han characters the Han split hides whether it does; between Latin or Cyrillic
// words it shows (a caption mixing scripts, or a translated one with an ideographic comma).
import { describe, expect, it } from 'vitest';
import { tokenizeCaption } from '../../../src/eval/tokenize.ts';

describe('CJK punctuation between words that are not Han', () => {
  it('separates them like a space', () => {
    expect(tokenizeCaption('red、blue')).toEqual(['red', 'blue']);
    expect(tokenizeCaption('кошка。собака')).toEqual(['кошка', 'собака']);
    expect(tokenizeCaption('「emoji」face')).toEqual(['emoji', 'face']);
  });

  it('and a Han character beside a Latin word is its own token', () => {
    expect(tokenizeCaption('x猫y')).toEqual(['x', '猫', 'y']);
  });
});
