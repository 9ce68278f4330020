import { describe, expect, it } from 'vitest';
import { splitPairs } from '../../../src/data/builtin/build.ts';
import type { SourcePair } from '../../../src/data/builtin/types.ts';
import { assignGroups, groupItems } from '../../../src/data/split.ts';
import { conceptKey } from '../../../src/data/text.ts';

function pair(id: string, style: string, caption: string, link = id): SourcePair {
  return { id, style, caption, link, tone: caption.includes('skin tone'), image: { path: `${id}.png` } };
}

/** Many concepts, each in three styles plus Fluent, with tone and gender variants and shared captions. */
function syntheticPairs(): SourcePair[] {
  const out: SourcePair[] = [];
  for (let c = 0; c < 300; c++) {
    const name = `thing ${c}`;
    for (const style of ['google', 'twitter', 'openmoji', 'fluent']) {
      out.push(pair(`${style}/${c}`, style, name, `emoji:${c}`));
      out.push(pair(`${style}/${c}-t`, style, `${name}: dark skin tone`, `emoji:${c}`));
      out.push(pair(`${style}/${c}-w`, style, `woman ${name}`, `emoji:${c}w`));
    }
    // Another source naming the same concept in a sentence.
    if (c % 5 === 0) out.push(pair(`tux/${c}`, 'tuxpaint', `A ${name}.`));
  }
  return out;
}

describe('concept-grouped split', () => {
  const splits = splitPairs(syntheticPairs(), 7);
  const trainCaptions = new Set(splits.train.map((p) => p.caption));
  const trainKeys = new Set(splits.train.map((p) => conceptKey(p.caption)));

  it('puts every group in exactly one of train, val, test-concept', () => {
    const sideOf = new Map<string, string>();
    for (const s of ['train', 'val', 'test-concept'] as const)
      for (const p of splits[s]) {
        expect(sideOf.get(p.group) ?? s).toBe(s);
        sideOf.set(p.group, s);
      }
    expect(splits.val.length).toBeGreaterThan(0);
    expect(splits['test-concept'].length).toBeGreaterThan(0);
  });

  it('lets no caption of val or test-concept, nor a tone or gender variant of it, into train', () => {
    for (const p of [...splits.val, ...splits['test-concept']]) {
      expect(trainCaptions.has(p.caption)).toBe(false);
      expect(trainKeys.has(conceptKey(p.caption))).toBe(false);
    }
  });

  it('keeps Fluent art out of training and tests it only on concepts seen in training', () => {
    expect([...splits.train, ...splits.val, ...splits['test-concept']].some((p) => p.style === 'fluent')).toBe(false);
    expect(splits['test-style'].length).toBeGreaterThan(0);
    for (const p of splits['test-style']) {
      expect(p.style).toBe('fluent');
      expect(trainKeys.has(conceptKey(p.caption))).toBe(true);
    }
  });

  it('is the same for the same seed and differs for another', () => {
    const again = splitPairs(syntheticPairs(), 7);
    expect(again.val.map((p) => p.id)).toEqual(splits.val.map((p) => p.id));
    const other = splitPairs(syntheticPairs(), 8);
    expect(other.val.map((p) => p.id)).not.toEqual(splits.val.map((p) => p.id));
  });

  it('joins items through shared links and shared keys transitively', () => {
    const g = groupItems([
      { link: 'a', caption: 'red apple' },
      { link: 'a', caption: 'green thing' },
      { link: 'b', caption: 'a green thing.' },
      { link: 'c', caption: 'banana' },
    ]);
    expect(g[0]).toBe(g[1]);
    expect(g[1]).toBe(g[2]);
    expect(g[3]).not.toBe(g[0]);
  });

  it('assigns the requested share of groups', () => {
    const names = Array.from({ length: 1000 }, (_, i) => `g${i}`);
    const side = assignGroups(names, 1, { val: 0.05, test: 0.1 });
    const count = (s: string) => [...side.values()].filter((v) => v === s).length;
    expect(count('val')).toBe(50);
    expect(count('test')).toBe(100);
    expect(count('train')).toBe(850);
  });
});
