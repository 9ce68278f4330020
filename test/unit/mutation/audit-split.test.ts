// src/data/split.ts's translations (0c95f94): an item's caption in another language joins its
// group under that language's own key. No test gave groupItems translations, so no mutation run
// reached the line. The rule from the file's header, worked by hand: two items with different
// English names but one Russian name are one concept (named by the smaller English key); the same
// words in two languages are two keys; distinct translations keep items apart.
import { describe, expect, it } from 'vitest';
import { groupItems } from '../../../src/data/split.ts';

describe('groupItems with translations', () => {
  it('one Russian name joins two English names; different Russian names keep them apart', () => {
    const groups = groupItems([
      { link: 'a', caption: 'cat face', translations: { ru: 'кошка' } },
      { link: 'b', caption: 'dog face', translations: { ru: 'собака' } },
      { link: 'c', caption: 'kitty', translations: { ru: 'Кошка!' } },
    ]);
    // 'Кошка!' has the concept key of 'кошка'; the group is named by its smallest English key.
    expect(groups).toEqual(['cat face', 'dog face', 'cat face']);
  });

  it('the same words under two languages are two keys', () => {
    const groups = groupItems([
      { link: 'a', caption: 'cat face', translations: { ru: 'kot' } },
      { link: 'b', caption: 'moggy', translations: { ms: 'kot' } },
    ]);
    expect(groups).toEqual(['cat face', 'moggy']);
  });

  it('items without translations beside items with them keep their own groups', () => {
    const groups = groupItems([
      { link: 'a', caption: 'red apple' },
      { link: 'b', caption: 'green apple', translations: { zh: '青苹果' } },
      { link: 'c', caption: 'pear', translations: {} },
    ]);
    expect(groups).toEqual(['red apple', 'green apple', 'pear']);
  });
});
