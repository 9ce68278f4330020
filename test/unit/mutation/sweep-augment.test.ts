// randomCrop's number of attempts (src/data/augment.ts), the fifth pass's "untested" 46 (now 48):
// torchvision's RandomResizedCrop.get_params tries `for _ in range(10)` and then falls back to the
// whole picture. A statistical test cannot tell 10 attempts from 11, so the draws are scripted here:
// ten that never fit, then one that would.
import { describe, expect, it } from 'vitest';
import { randomCrop } from '../../../src/data/augment.ts';
import type { RgbImage } from '../../../src/data/image.ts';
import { Rng } from '../../../src/data/rng.ts';

/** A generator that hands out the given draws in order, and counts them. */
class ScriptedRng extends Rng {
  used = 0;
  constructor(private readonly draws: number[]) {
    super(0);
  }
  override next(): number {
    if (this.used >= this.draws.length) throw new Error(`draw ${this.used + 1} asked for, only ${this.draws.length} scripted`);
    return this.draws[this.used++]!;
  }
}

describe('randomCrop: ten attempts, as torchvision', () => {
  // 100×100, area share uniform in [0.5, 2], ratio 1 (the ratio draw is still taken): a share draw
  // u gives a square of side √((0.5 + 1.5u)·10⁴), which fits when u ≤ 1/3.
  const img: RgbImage = { data: new Uint8Array(0), width: 100, height: 100 };
  const cfg = { scale: [0.5, 2] as const, ratio: [1, 1] as const, flip: false };
  const miss = [0.9, 0.5]; // share 1.85: a square of side 136
  const hit = [0, 0.5, 0.25, 0.75]; // share 0.5 (side √5000), then x and y at ¼ and ¾ of the room left

  it('takes a crop that fits at the tenth attempt', () => {
    const rng = new ScriptedRng([...Array.from({ length: 9 }, () => miss).flat(), ...hit]);
    const c = randomCrop(img, cfg, rng);
    const side = Math.sqrt(5000);
    expect(c.w).toBeCloseTo(side, 9);
    expect(c.h).toBeCloseTo(side, 9);
    expect(c.x).toBeCloseTo(0.25 * (100 - side), 9);
    expect(c.y).toBeCloseTo(0.75 * (100 - side), 9);
    expect(rng.used).toBe(9 * 2 + 4);
  });

  it('falls back to the whole picture after ten that do not fit, never trying an eleventh', () => {
    const rng = new ScriptedRng([...Array.from({ length: 10 }, () => miss).flat(), ...hit]);
    expect(randomCrop(img, cfg, rng)).toEqual({ x: 0, y: 0, w: 100, h: 100, flip: false });
    expect(rng.used).toBe(20);
  });
});
