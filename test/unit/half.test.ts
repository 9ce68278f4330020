// Half precision for exported weights (src/model/half.ts) against numpy's float32 → float16 cast
// (round to nearest, ties to even): normals, subnormals, exact ties, the edges of the range,
// overflow; and every one of the 65,536 halves back and forth.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { floatToHalf, halfToFloat, halvesToFloats, toHalves } from '../../src/model/half.ts';
import { Rng } from '../../src/util/prng.ts';

describe('half precision', () => {
  it("rounds as numpy's float16 cast does", () => {
    const rng = new Rng(7);
    const xs: number[] = [0, -0, 1, -1, 65504, -65504, 65519, 65520, 1e6, 2 ** -14, 2 ** -24, 2 ** -25, 1.5 * 2 ** -25, 2 ** -26, 3 * 2 ** -25, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 1 + 2 ** -11 + 2 ** -20, 2048 + 1, 2048 + 3, 0.1, 1 / 3];
    for (let i = 0; i < 3000; i++) xs.push(Math.fround((rng.next() - 0.5) * 2 ** Math.floor(rng.next() * 44 - 28)));
    // Ties of every subnormal and normal spacing: halfway between two neighbouring halves.
    for (let i = 0; i < 500; i++) {
      const h = rng.int(0x7bff);
      xs.push(Math.fround((halfToFloat(h) + halfToFloat(h + 1)) / 2));
    }
    const f32 = Float32Array.from(xs);
    const script = 'import sys, numpy as np\nx = np.frombuffer(sys.stdin.buffer.read(), dtype=np.float32)\nsys.stdout.buffer.write(x.astype(np.float16).tobytes())';
    const out = execFileSync('python3', ['-c', script], { input: Buffer.from(f32.buffer) });
    const want = new Uint16Array(out.buffer, out.byteOffset, out.length / 2);
    const got = Uint16Array.from(f32, floatToHalf);
    const bad = [...got.keys()].filter((i) => got[i] !== want[i]);
    expect(bad.slice(0, 5).map((i) => `${f32[i]}: ${got[i]!.toString(16)} vs numpy ${want[i]!.toString(16)}`)).toEqual([]);
  });

  it('takes every half to its float and back', () => {
    const wrong: number[] = [];
    for (let h = 0; h < 0x10000; h++) {
      const x = halfToFloat(h);
      if (Number.isNaN(x) ? !Number.isNaN(halfToFloat(floatToHalf(x))) : floatToHalf(x) !== h) wrong.push(h);
    }
    expect(wrong).toEqual([]);
  });

  it('keeps a tensor float32 when an element would not survive as a half', () => {
    expect(toHalves(Float32Array.from([1, 65504, -0.5]))).toEqual(Uint16Array.from([0x3c00, 0x7bff, 0xb800]));
    expect(toHalves(Float32Array.from([1, 70000]))).toBeNull();
    expect(toHalves(Float32Array.from([1, NaN]))).toBeNull();
    expect(Array.from(halvesToFloats(Uint16Array.from([0x3c00, 0x0001, 0xfc00])))).toEqual([1, 2 ** -24, -Infinity]);
  });
});
