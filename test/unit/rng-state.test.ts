// Rng.state()/restore(): a training checkpoint's dropout generator continues where it stopped.
import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/util/prng.ts';

describe('Rng state', () => {
  it('a generator restored from another\'s state draws what that one draws next', () => {
    const a = new Rng(7);
    for (let i = 0; i < 5; i++) a.next();
    const saved = JSON.parse(JSON.stringify(a.state())) as number[];
    const want = Array.from({ length: 6 }, () => a.u32());
    const b = new Rng(99);
    b.restore(saved);
    expect(Array.from({ length: 6 }, () => b.u32())).toEqual(want);
    // The seed alone does not give that: the restore is what carries the position.
    const fresh = new Rng(7);
    expect(Array.from({ length: 6 }, () => fresh.u32())).not.toEqual(want);
  });

  it.each([[[1, 2, 3]], [[1, 2, 3, -1]], [[1, 2, 3, 2 ** 32]], [[1, 2, 3, 0.5]]])('refuses %j', (s) => {
    expect(() => new Rng(1).restore(s)).toThrow('Rng.restore: expected four 32-bit words');
  });
});
