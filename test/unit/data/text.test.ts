import { describe, expect, it } from 'vitest';
import { conceptKey, normaliseCaption } from '../../../src/data/text.ts';

describe('caption text', () => {
  it('normalises case, width and spacing', () => {
    expect(normaliseCaption('  A  Ｄog\ton\nthe Beach ')).toBe('a dog on the beach');
  });

  it('gives skin-tone and gender variants the key of their base concept', () => {
    const base = conceptKey('firefighter');
    expect(conceptKey('man firefighter')).toBe(base);
    expect(conceptKey('Woman Firefighter: medium-dark skin tone')).toBe(base);
    expect(conceptKey('kiss: woman, man, light skin tone, dark skin tone')).toBe(conceptKey('kiss: man, man'));
    expect(conceptKey('A pig.')).toBe(conceptKey('pig'));
  });

  it('keeps different concepts apart', () => {
    expect(conceptKey('flag: iceland')).not.toBe(conceptKey('flag: ireland'));
    expect(conceptKey('hot dog')).not.toBe(conceptKey('dog'));
    // A caption made only of "who" words keeps them rather than collapsing to nothing.
    expect(conceptKey('woman')).not.toBe(conceptKey('man'));
  });
});
