// src/data/photometric.ts against the rules its header names, written here independently:
// torchvision's ColorJitter / RandomGrayscale on float tensors (brightness f·x, contrast towards
// the picture's mean luma, saturation towards each pixel's luma, ITU-R 601 weights 0.2989, 0.587,
// 0.114, every blend clamped to [0, 1]), a Gaussian blur as one direct 2-D convolution in float64
// with mirror padding found by folding the index back until it lands inside, and the draws of one
// picture read off a scripted generator (so every threshold is hit exactly) in the order the module
// promises: colour (its probability, a Fisher–Yates order, then a factor per op in that order),
// grey, blur.
import { describe, expect, it } from 'vitest';
import { applyPhotometric, blurSigmaMax, drawPhotometric, gaussianBlur, gaussianTaps, isPhotometricOn, reflectIndex, type PhotometricConfig, type PhotometricDraw } from '../../../src/data/photometric.ts';
import { Rng } from '../../../src/data/rng.ts';

/** A generator that returns the values given, in order, and counts what was taken. */
class Scripted extends Rng {
  taken = 0;
  constructor(private readonly values: number[]) {
    super(0);
  }
  override next(): number {
    if (this.taken >= this.values.length) throw new Error(`draw ${this.taken + 1} asked of a script of ${this.values.length}`);
    return this.values[this.taken++]!;
  }
}

const none: PhotometricDraw = { jitter: [], grey: false, sigma: 0 };
const luma = (r: number, g: number, b: number) => 0.2989 * r + 0.587 * g + 0.114 * b;
const clamp = (v: number) => Math.min(1, Math.max(0, v));

/** size×size×3 values in [0, 1] as R, G, B planes, from a seeded generator. */
function planes(size: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: 3 * size * size }, () => rng.next());
}

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, tol: number, what: string): void {
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < want.length; i++) if (!(Math.abs(got[i]! - want[i]!) <= tol)) expect.fail(`${what}: element ${i} is ${got[i]}, want ${want[i]}`);
}

describe('drawPhotometric: what one picture gets, draw by draw', () => {
  const all: PhotometricConfig = { colour: { strength: 0.3, p: 0.5 }, grey: 0.25, blur: { p: 0.75 } };

  it('colour, grey, blur in that order: the ops in the Fisher–Yates order drawn, each factor from its own draw', () => {
    // Colour: 0.49 < 0.5. Order: swap index 2 with floor(0.9·3) = 2 (none), then 1 with floor(0.1·2) = 0
    // → [1, 0, 2]: contrast, brightness, saturation. Factors 0.7 + 0.6·u for u = 0.25, 0.5, 0.75.
    // Grey: 0.25 is not below 0.25. Blur: 0.5 < 0.75, sigma 0.1 + (4 − 0.1)·0.25 at 448 px (ceiling 4).
    const rng = new Scripted([0.49, 0.9, 0.1, 0.25, 0.5, 0.75, 0.25, 0.5, 0.25]);
    const d = drawPhotometric(all, 448, rng);
    expect(rng.taken).toBe(9);
    expect(d.jitter.map((j) => j.op)).toEqual(['contrast', 'brightness', 'saturation']);
    expectClose(d.jitter.map((j) => j.factor), [0.85, 1.0, 1.15], 1e-12, 'factors');
    expect(d.grey).toBe(false);
    expect(d.sigma).toBeCloseTo(1.075, 12);
  });

  it('another order: swap 2 with 0, then 1 with 1 → saturation, contrast, brightness', () => {
    const rng = new Scripted([0, 0.2, 0.9, 0, 0.5, 1 - 2 ** -32, 0.1, 0.9]);
    const d = drawPhotometric(all, 32, rng);
    expect(d.jitter.map((j) => j.op)).toEqual(['saturation', 'contrast', 'brightness']);
    expectClose(d.jitter.map((j) => j.factor), [0.7, 1.0, 0.7 + 0.6 * (1 - 2 ** -32)], 1e-12, 'factors');
    expect(d.grey).toBe(true);
    // 0.9 is not below 0.75: no blur, and no sigma drawn.
    expect(d.sigma).toBe(0);
    expect(rng.taken).toBe(8);
  });

  it('a draw exactly at a probability does not apply the transform (draws are below p with probability p)', () => {
    const rng = new Scripted([0.5, 0.25, 0.75]);
    expect(drawPhotometric(all, 32, rng)).toEqual(none);
    expect(rng.taken).toBe(3);
  });

  it('a transform that is off takes no draw; one that is on takes one, and its parameters only when applied', () => {
    const cases: [PhotometricConfig, number[], number][] = [
      [{ colour: { strength: 0.4, p: 0.8 } }, [0.9], 1],
      [{ colour: { strength: 0.4, p: 0.8 } }, [0.1, 0, 0, 0, 0, 0], 6],
      [{ grey: 0.2 }, [0.1], 1],
      [{ blur: { p: 0.5 } }, [0.6], 1],
      [{ blur: { p: 0.5 } }, [0.4, 0], 2],
      [{}, [], 0],
    ];
    for (const [cfg, script, n] of cases) {
      const rng = new Scripted(script);
      drawPhotometric(cfg, 32, rng);
      expect(rng.taken, JSON.stringify(cfg)).toBe(n);
    }
    expect(drawPhotometric({ grey: 0.2 }, 32, new Scripted([0.1])).grey).toBe(true);
    expect(drawPhotometric({ blur: { p: 0.5 } }, 32, new Scripted([0.4, 0])).sigma).toBe(0.1);
  });

  it('a strength above 1 draws factors from 0, not from 1 − s', () => {
    const d = drawPhotometric({ colour: { strength: 1.5, p: 1 } }, 32, new Scripted([0, 0, 0, 0, 0.2, 1 - 2 ** -32]));
    // Order: swap 2 with 0, then 1 with 0 → [1, 2, 0]; factors 0 + 2.5·u.
    expect(d.jitter.map((j) => j.op)).toEqual(['contrast', 'saturation', 'brightness']);
    expectClose(d.jitter.map((j) => j.factor), [0, 0.5, 2.5 * (1 - 2 ** -32)], 1e-12, 'factors');
  });

  it('the blur ceiling: max(1, 2·size/224)', () => {
    expect(blurSigmaMax(1)).toBe(1);
    expect(blurSigmaMax(112)).toBe(1);
    expect(blurSigmaMax(336)).toBe(3);
    expect(blurSigmaMax(560)).toBe(5);
  });
});

describe('isPhotometricOn', () => {
  it('is on when any one transform is configured, off when none is', () => {
    expect(isPhotometricOn({})).toBe(false);
    expect(isPhotometricOn({ colour: { strength: 0.4, p: 0.8 } })).toBe(true);
    expect(isPhotometricOn({ grey: 0.2 })).toBe(true);
    expect(isPhotometricOn({ blur: { p: 0.5 } })).toBe(true);
  });
});

describe('applyPhotometric: torchvision’s jitter and greyscale on a 3×3 picture', () => {
  /** The float64 result of one op on planes `x` (size×size), as torchvision writes it. */
  function jitter(x: number[], size: number, op: string, f: number): number[] {
    const n = size * size;
    const greyOf = (i: number) => luma(x[i]!, x[n + i]!, x[2 * n + i]!);
    let mean = 0;
    for (let i = 0; i < n; i++) mean += greyOf(i) / n;
    return x.map((v, k) => {
      const i = k % n;
      const other = op === 'brightness' ? 0 : op === 'contrast' ? mean : greyOf(i);
      return clamp(f * v + (1 - f) * other);
    });
  }

  const cases: { op: 'brightness' | 'contrast' | 'saturation'; factor: number }[][] = [
    [{ op: 'brightness', factor: 1.7 }],
    [{ op: 'contrast', factor: 2.5 }],
    [{ op: 'contrast', factor: 0.3 }],
    [{ op: 'saturation', factor: 3 }],
    [{ op: 'saturation', factor: 0.4 }],
    [{ op: 'saturation', factor: 1.3 }, { op: 'contrast', factor: 1.8 }, { op: 'brightness', factor: 0.7 }],
  ];

  for (const ops of cases) {
    it(`${ops.map((o) => `${o.op} ${o.factor}`).join(', ')}`, () => {
      const x = planes(3, 5);
      let want = [...x];
      for (const o of ops) want = jitter(want, 3, o.op, o.factor);
      applyPhotometric(x, 0, 3, { ...none, jitter: ops });
      expectClose(x, want, 2e-6, ops.map((o) => o.op).join());
    });
  }

  it('the clamps are reached: contrast 2.5 sends some values below 0 and some above 1', () => {
    const x = [...planes(3, 5)];
    const n = 9;
    let mean = 0;
    for (let i = 0; i < n; i++) mean += luma(x[i]!, x[n + i]!, x[2 * n + i]!) / n;
    const raw = x.map((v) => 2.5 * v - 1.5 * mean);
    expect(raw.some((v) => v < 0)).toBe(true);
    expect(raw.some((v) => v > 1)).toBe(true);
  });

  it('jitter, then greyscale, then blur, on a picture inside a larger buffer left as it was', () => {
    const size = 3;
    const x = new Float32Array(4 + 27 + 5).fill(9);
    x.set(planes(size, 8), 4);
    const src = [...planes(size, 8)];
    applyPhotometric(x, 4, size, { jitter: [{ op: 'brightness', factor: 0.5 }], grey: true, sigma: 0 });
    const half = src.map((v) => v / 2);
    const grey = Array.from({ length: 9 }, (_, i) => luma(half[i]!, half[9 + i]!, half[18 + i]!));
    expectClose(x, [9, 9, 9, 9, ...grey, ...grey, ...grey, 9, 9, 9, 9, 9], 1e-6, 'brightness then grey');
  });
});

describe('Gaussian blur against a direct 2-D convolution in float64', () => {
  /** Folds an index outside 0..n-1 back in, one mirror at a time, without repeating the edge. */
  function mirror(i: number, n: number): number {
    if (n === 1) return 0;
    while (i < 0 || i >= n) i = i < 0 ? -i : 2 * (n - 1) - i;
    return i;
  }

  function blurred(x: number[], size: number, sigma: number): number[] {
    const r = Math.ceil(3 * sigma);
    const g = Array.from({ length: 2 * r + 1 }, (_, k) => Math.exp(-((k - r) ** 2) / (2 * sigma * sigma)));
    const total = g.reduce((a, b) => a + b) ** 2;
    const out: number[] = [];
    for (let c = 0; c < 3; c++)
      for (let v = 0; v < size; v++)
        for (let u = 0; u < size; u++) {
          let s = 0;
          for (let dy = -r; dy <= r; dy++)
            for (let dx = -r; dx <= r; dx++) s += g[dy + r]! * g[dx + r]! * x[c * size * size + mirror(v + dy, size) * size + mirror(u + dx, size)]!;
          out.push(s / total);
        }
    return out;
  }

  // Sizes 1, prime and larger than the radius; radii past the picture (several mirrors).
  for (const [size, sigma] of [[5, 1.2], [7, 0.45], [3, 1.7], [1, 0.6], [4, 0.1]] as const) {
    it(`${size}×${size}, sigma ${sigma}`, () => {
      const src = [...planes(size, 100 + size)];
      const x = new Float32Array(3 + 3 * size * size + 2).fill(-7);
      x.set(src, 3);
      applyPhotometric(x, 3, size, { ...none, sigma });
      expectClose(x.subarray(3, 3 + 3 * size * size), blurred(src, size, sigma), 2e-6, `${size}, ${sigma}`);
      expect([...x.subarray(0, 3), ...x.subarray(3 + 3 * size * size)]).toEqual([-7, -7, -7, -7, -7]);
    });
  }

  it('gaussianBlur alone blurs each plane on its own', () => {
    // One lit pixel in the green plane only: red and blue stay 0, green spreads.
    const size = 4;
    const x = new Float32Array(3 * 16);
    x[16 + 5] = 1;
    gaussianBlur(x, 0, size, 0.8);
    const want = blurred([...Array(16).fill(0), ...Array.from({ length: 16 }, (_, i) => (i === 5 ? 1 : 0)), ...Array(16).fill(0)], size, 0.8);
    expectClose(x, want, 2e-6, 'green pixel');
    expect(x.subarray(0, 16).every((v) => v === 0) && x.subarray(32).every((v) => v === 0)).toBe(true);
  });

  it('taps: exp(−k²/2σ²) over −ceil(3σ)..ceil(3σ), normalised', () => {
    for (const sigma of [0.1, 0.34, 1, 2.5]) {
      const r = Math.ceil(3 * sigma);
      const raw = Array.from({ length: 2 * r + 1 }, (_, k) => Math.exp(-((k - r) ** 2) / (2 * sigma * sigma)));
      const sum = raw.reduce((a, b) => a + b);
      expectClose(gaussianTaps(sigma), raw.map((w) => w / sum), 1e-15, `sigma ${sigma}`);
    }
  });

  it('reflectIndex matches folding, far out on both sides', () => {
    for (const n of [1, 2, 3, 5])
      for (let i = -13; i <= 13; i++) expect(reflectIndex(i, n), `${i} in ${n}`).toBe(mirror(i, n));
  });
});
