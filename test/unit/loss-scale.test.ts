// Dynamic loss scaling's policy (src/train/loss-scale.ts), as torch's GradScaler: an overflow halves
// the scale and restarts the count; growthInterval clean steps in a row double it; bounds; state.
import { describe, expect, it } from 'vitest';
import { DEFAULT_LOSS_SCALE, LossScaler } from '../../src/train/loss-scale.ts';

describe('LossScaler', () => {
  it("starts at torch's 2^16 and grows ×2 only after 2000 clean steps in a row", () => {
    expect(DEFAULT_LOSS_SCALE).toEqual({ initScale: 65536, growthInterval: 2000, growthFactor: 2, backoffFactor: 0.5 });
    const s = new LossScaler();
    for (let i = 1; i < 2000; i++) expect(s.update(false), `clean step ${i}`).toBeNull();
    expect(s.scale).toBe(65536);
    expect(s.update(false)).toBe('growth');
    expect(s.scale).toBe(131072);
    expect(s.cleanSteps).toBe(0);
  });

  it('an overflow halves the scale and restarts the count of clean steps', () => {
    const s = new LossScaler({ initScale: 1024, growthInterval: 3 });
    expect(s.update(false)).toBeNull();
    expect(s.update(false)).toBeNull();
    expect(s.update(true)).toBe('backoff');
    expect(s.scale).toBe(512);
    // Two clean steps after the overflow are not three in a row.
    expect([s.update(false), s.update(false)]).toEqual([null, null]);
    expect(s.scale).toBe(512);
    expect(s.update(false)).toBe('growth');
    expect(s.scale).toBe(1024);
    expect([s.update(true), s.update(true)]).toEqual(['backoff', 'backoff']);
    expect(s.scale).toBe(256);
  });

  it('stays within [2^-24, 2^64], keeps and restores its state, refuses nonsense settings', () => {
    const low = new LossScaler({ initScale: 2 ** -23 });
    low.update(true);
    low.update(true);
    expect(low.scale).toBe(2 ** -24);
    const high = new LossScaler({ initScale: 2 ** 64, growthInterval: 1 });
    expect(high.update(false)).toBeNull();
    expect(high.scale).toBe(2 ** 64);
    const a = new LossScaler({ growthInterval: 4 });
    a.update(true);
    a.update(false);
    const b = new LossScaler({ growthInterval: 4 });
    b.restore(a.state());
    expect(b.state()).toEqual({ scale: 32768, cleanSteps: 1 });
    for (let i = 0; i < 3; i++) expect(b.update(false)).toBe(a.update(false));
    expect(b.scale).toBe(65536);
    expect(() => new LossScaler({ initScale: 0 })).toThrow(/loss scale 0 must lie/);
    expect(() => new LossScaler({ growthInterval: 0.5 })).toThrow(/growth interval 0.5/);
    expect(() => new LossScaler({ backoffFactor: 1 })).toThrow(/backoff 1/);
  });
});
