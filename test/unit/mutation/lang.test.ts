// Caption languages (src/data/lang.ts) against its header: the language token's spelling and
// parsing, script detection, the order training draws captions from, and which captions forbid
// mirroring the picture. Expected values are written out by hand.
import { describe, expect, it } from 'vitest';
import { captionChoices, DEFAULT_LANGUAGE, detectLanguage, languageOfToken, languageToken, saysHandedness } from '../../../src/data/lang.ts';

describe('language tokens', () => {
  it('are spelled [lang:xx] and read back only when the whole token is that, with a 2- or 3-letter lower-case code', () => {
    expect(DEFAULT_LANGUAGE).toBe('en');
    expect(languageToken('ru')).toBe('[lang:ru]');
    expect(languageOfToken('[lang:ru]')).toBe('ru');
    expect(languageOfToken('[lang:zho]')).toBe('zho');
    for (const t of ['[lang:r]', '[lang:russ]', 'x[lang:ru]', '[lang:ru]x', '[lang:RU]', '[lang:r1]', '[SOT]', '']) expect(languageOfToken(t), t).toBeUndefined();
  });
});

describe('detectLanguage', () => {
  it('Han is Chinese, Cyrillic Russian (Han first when both), anything else unknown', () => {
    expect(detectLanguage('一只狗')).toBe('zh');
    expect(detectLanguage('a dog, 狗')).toBe('zh');
    expect(detectLanguage('морда собаки')).toBe('ru');
    expect(detectLanguage('dog Ж')).toBe('ru');
    expect(detectLanguage('собака 狗')).toBe('zh');
    expect(detectLanguage('anjing comel')).toBeUndefined();
    expect(detectLanguage('')).toBeUndefined();
  });
});

describe('captionChoices', () => {
  it('English captions first, then each language in the order given, English in the list skipped', () => {
    const other: Record<string, string[]> = { ru: ['собака'], zh: ['狗', '小狗'], en: ['never'] };
    const asked: string[] = [];
    const got = captionChoices(['a dog', 'the dog'], ['en', 'zh', 'ru'], (l) => (asked.push(l), other[l] ?? []));
    expect(got).toEqual([
      { text: 'a dog', lang: 'en' },
      { text: 'the dog', lang: 'en' },
      { text: '狗', lang: 'zh' },
      { text: '小狗', lang: 'zh' },
      { text: 'собака', lang: 'ru' },
    ]);
    expect(asked).toEqual(['zh', 'ru']);
    expect(captionChoices(['a'], [], () => ['x'])).toEqual([{ text: 'a', lang: 'en' }]);
  });
});

describe('saysHandedness', () => {
  it('an English caption with a word starting left or right; a translation through its English captions', () => {
    const en = (text: string) => saysHandedness({ text, lang: 'en' }, []);
    expect(en('a paw on the left')).toBe(true);
    expect(en('right hand')).toBe(true);
    expect(en('the leftmost cat')).toBe(true);
    expect(en('a bright star')).toBe(false);
    expect(en('copyright sign')).toBe(false);
    expect(en('a dog')).toBe(false);
    expect(saysHandedness({ text: 'собака', lang: 'ru' }, ['a dog', 'facing right'])).toBe(true);
    expect(saysHandedness({ text: 'left', lang: 'ru' }, ['a dog'])).toBe(false);
    // The English captions are read as separate words: 'a dog' then 'left paw'.
    expect(saysHandedness({ text: 'собака', lang: 'ru' }, ['a dog', 'left paw'])).toBe(true);
    // The English text of an English caption decides, not its item's other captions.
    expect(saysHandedness({ text: 'a dog', lang: 'en' }, ['on the left'])).toBe(false);
  });
});
