// Pillow's bicubic resize (src/data/resample.ts) against Pillow itself on noise, where a weight
// rounded the wrong way shows in some output byte: test/fixtures/resample_bicubic.json holds what
// Pillow's Image.resize(..., BICUBIC) made of each picture (scripts/reference/resample_bicubic.py).
import { describe, expect, it } from 'vitest';
import { resizeBicubic } from '../../../src/data/resample.ts';
import { noise, pillowCases } from './pillow-fixture.ts';

describe("Pillow's bicubic resize", () => {
  it.each(pillowCases.map((c) => [`${c.width}x${c.height} → ${c.outWidth}x${c.outHeight}`, c] as const))('%s: equal to Pillow, byte for byte', (_n, c) => {
    const got = resizeBicubic({ data: noise(c.width, c.height, c.seed), width: c.width, height: c.height }, c.outWidth, c.outHeight);
    expect([got.width, got.height]).toEqual([c.outWidth, c.outHeight]);
    const want = Buffer.from(c.output, 'base64');
    expect(got.data.length).toBe(want.length);
    const diff = [...got.data].findIndex((v, i) => v !== want[i]);
    expect(diff, `first differing byte at ${diff}`).toBe(-1);
  });

  it('to the size it has: an equal copy that does not share the input', () => {
    const data = noise(4, 3, 9);
    const img = { data, width: 4, height: 3 };
    const got = resizeBicubic(img, 4, 3);
    expect([...got.data]).toEqual([...data]);
    expect(got.data).not.toBe(data);
    got.data[0] = data[0]! ^ 0xff;
    expect(data[0]).not.toBe(got.data[0]);
  });
});
