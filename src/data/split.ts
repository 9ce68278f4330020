// Concept-grouped splits. Pairs are joined into groups when they share a link (all styles and
// skin tones of one emoji) or a concept key (same caption up to tone, gender words, articles and
// punctuation), so no caption of val or test-concept, nor a variant of it, is ever seen in training.
// A translated caption joins its item's group under its own language's key too: two emoji with
// different English names but one Russian name are one concept, so a Russian caption of
// test-concept is never a train caption either (split by concept, then the languages come along).
import { hashString } from './rng.ts';
import { conceptKey } from './text.ts';

export interface Splittable {
  link: string;
  caption: string;
  /** The caption in other languages (language → caption). */
  translations?: Record<string, string>;
}

class UnionFind {
  private parent: number[] = [];
  add(): number {
    this.parent.push(this.parent.length);
    return this.parent.length - 1;
  }
  find(i: number): number {
    while (this.parent[i] !== i) {
      this.parent[i] = this.parent[this.parent[i]!]!;
      i = this.parent[i]!;
    }
    return i;
  }
  union(a: number, b: number): void {
    const ra = this.find(a);
    const rb = this.find(b);
    if (ra !== rb) this.parent[Math.max(ra, rb)] = Math.min(ra, rb);
  }
}

/** A group name per item: the smallest concept key in its group, stable across runs. */
export function groupItems(items: readonly Splittable[]): string[] {
  const uf = new UnionFind();
  const byName = new Map<string, number>();
  const node = (name: string) => {
    let n = byName.get(name);
    if (n === undefined) byName.set(name, (n = uf.add()));
    return n;
  };
  const keys = items.map((it) => conceptKey(it.caption));
  const nodes = items.map((it, i) => {
    const a = node(`link:${it.link}`);
    uf.union(a, node(`key:${keys[i]}`));
    for (const [lang, t] of Object.entries(it.translations ?? {})) uf.union(a, node(`key:${lang}:${conceptKey(t)}`));
    return a;
  });
  const label = new Map<number, string>();
  nodes.forEach((n, i) => {
    const root = uf.find(n);
    const cur = label.get(root);
    if (cur === undefined || keys[i]! < cur) label.set(root, keys[i]!);
  });
  return nodes.map((n) => label.get(uf.find(n))!);
}

export interface SplitFractions {
  val: number;
  test: number;
}

/**
 * 'train' | 'val' | 'test' for each group name: groups are ranked by a seeded hash and the first
 * `val` share of groups goes to val, the next `test` share to test, the rest to train.
 */
export function assignGroups(groups: Iterable<string>, seed: number, f: SplitFractions): Map<string, 'train' | 'val' | 'test'> {
  const names = [...new Set(groups)].sort((a, b) => hashString(a, seed) - hashString(b, seed) || (a < b ? -1 : 1));
  const nVal = Math.round(names.length * f.val);
  const nTest = Math.round(names.length * f.test);
  const out = new Map<string, 'train' | 'val' | 'test'>();
  names.forEach((g, i) => out.set(g, i < nVal ? 'val' : i < nVal + nTest ? 'test' : 'train'));
  return out;
}
