// The pointwise family against its float64 reference: every op at lengths of 1, primes and
// lengths past a multiple of 4 (vec4 body + scalar tail), at aligned and misaligned offsets (the
// all-scalar path), in place, and broadcast over rows; outputs poisoned with NaN first.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { addBias, addInPlace, gelu, geluBackward, pointwise, type PointwiseOp } from '../../kernels/pointwise.ts';
import { POINTWISE_TOL, axpbyRef, erfRef, erfcRef, geluBackwardRef, geluRef, mulRef, scaleRef } from '../../kernels/pointwise.ref.ts';
import { expectClose } from '../helpers/close.ts';
import { placed, poisoned, testGpu } from '../helpers/gpu.ts';
import { testRng } from '../helpers/seed.ts';
import type { Rng } from '../../src/util/prng.ts';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.pool.trim());

// Lengths: 1, below one vec4, primes, one past a multiple of 4 and of the workgroup (256).
const LENGTHS = [1, 3, 4, 7, 67, 257, 1031];
// Element offsets: 0, a multiple of 4 (vec4 path kept), odd (everything scalar).
const OFFSETS = [0, 8, 3];


async function readAt(buf: GPUBuffer, n: number, offset: number): Promise<Float32Array> {
  return gpu.read(buf, n, offset);
}

const refs: Record<PointwiseOp, (x: Float32Array, y: Float32Array, alpha: number, beta: number) => Float64Array> = {
  axpby: (x, y, a, b) => axpbyRef(x, y, a, b),
  mul: (x, y, a) => mulRef(x, y, a),
  scale: (x, _y, a) => scaleRef(x, a),
  gelu: (x) => geluRef(x),
  geluBackward: (x, y) => geluBackwardRef(x, y),
};
const tolOf = (op: PointwiseOp) => (op === 'gelu' ? POINTWISE_TOL.gelu : op === 'geluBackward' ? POINTWISE_TOL.geluBackward : POINTWISE_TOL.linear);
const inputs = (rng: Rng, op: PointwiseOp, n: number) => (op.startsWith('gelu') ? rng.floats(n, -6, 6) : rng.floats(n, -2, 2));

async function runOp(op: PointwiseOp, n: number, off: number, salt: number, inPlace = false): Promise<void> {
  const rng = testRng(salt);
  const x = inputs(rng, op, n);
  const y = rng.floats(n, -2, 2);
  const alpha = Math.fround(rng.uniform(0.5, 2));
  const beta = op === 'axpby' ? Math.fround(rng.uniform(-2, -0.5)) : 1;
  const usesY = op === 'axpby' || op === 'mul' || op === 'geluBackward';
  // Different offsets per operand, so a kernel using one operand's offset for another fails.
  const X = placed(gpu, x, off, 'x', 5);
  const Y = placed(gpu, y, off === 3 ? 7 : off + 4, 'y', 5);
  const yRef = usesY ? { buffer: Y, shape: [n], offset: off === 3 ? 7 : off + 4 } : undefined;
  const want = refs[op](x, y, alpha, beta);
  const what = `${op} n=${n} offset=${off}${inPlace ? ' in place' : ''}`;
  if (inPlace) {
    pointwise(gpu, { op, x: { buffer: X, shape: [n], offset: off }, y: yRef, alpha, beta });
    expectClose(await readAt(X, n, off), want, tolOf(op), what);
  } else {
    const zOff = off === 3 ? 1 : off;
    const Z = poisoned(gpu, zOff + n, 'z');
    pointwise(gpu, { op, x: { buffer: X, shape: [n], offset: off }, y: yRef, out: { buffer: Z, shape: [n], offset: zOff }, alpha, beta });
    expectClose(await readAt(Z, n, zOff), want, tolOf(op), what);
    // Nothing written before the output range.
    if (zOff > 0) expect(Number.isNaN((await readAt(Z, 1, zOff - 1))[0]!), `${what}: wrote before out`).toBe(true);
    gpu.release(Z);
  }
  gpu.release(X);
  gpu.release(Y);
}

describe.each(['axpby', 'mul', 'scale', 'gelu', 'geluBackward'] as const)('pointwise %s', (op) => {
  it('matches float64 at awkward lengths and offsets', async () => {
    let salt = 0;
    for (const off of OFFSETS) for (const n of LENGTHS) await runOp(op, n, off, salt++);
  });
  it('in place', async () => {
    await runOp(op, 1031, 0, 100);
    await runOp(op, 13, 3, 101);
  });
});

describe('pointwise named ops', () => {
  it('addBias broadcasts one row over every row, vec4 and scalar', async () => {
    const rng = testRng(200);
    for (const [rows, cols] of [[1, 1], [5, 1], [3, 12], [7, 13], [33, 64]] as const) {
      const x = rng.floats(rows * cols);
      const b = rng.floats(cols);
      const [X, B, Z] = [gpu.upload(x, 'x'), gpu.upload(b, 'bias'), poisoned(gpu, rows * cols, 'z')];
      addBias(gpu, { buffer: X, shape: [rows, cols] }, { buffer: B, shape: [cols] }, { buffer: Z, shape: [rows, cols] });
      expectClose(await gpu.read(Z, rows * cols), axpbyRef(x, b, 1, 1, cols), POINTWISE_TOL.linear, `addBias [${rows}, ${cols}]`);
      for (const buf of [X, B, Z]) gpu.release(buf);
    }
  });

  it('residual add in place, gelu and its gradient at large |x|', async () => {
    const rng = testRng(201);
    const n = 263;
    const x = rng.floats(n, -50, 50);
    const y = rng.floats(n, -50, 50);
    const [X, Y, Z] = [gpu.upload(x, 'x'), gpu.upload(y, 'y'), poisoned(gpu, n, 'z')];
    gelu(gpu, { buffer: X, shape: [n] }, { buffer: Z, shape: [n] });
    expectClose(await gpu.read(Z, n), geluRef(x), POINTWISE_TOL.gelu, 'gelu, |x| ≤ 50');
    geluBackward(gpu, { buffer: X, shape: [n] }, { buffer: Y, shape: [n] }, { buffer: Z, shape: [n] });
    expectClose(await gpu.read(Z, n), geluBackwardRef(x, y), { atol: 50 * POINTWISE_TOL.geluBackward.atol, rtol: 1e-6 }, 'gelu backward, |x| ≤ 50');
    addInPlace(gpu, { buffer: X, shape: [n] }, { buffer: Y, shape: [n] });
    expectClose(await gpu.read(X, n), axpbyRef(x, y), POINTWISE_TOL.linear, 'residual add');
    for (const buf of [X, Y, Z]) gpu.release(buf);
  });

  it('gelu follows float64 erf over a dense grid, tails included', async () => {
    // Every 1/64 over [-9, 9]: GELU(x)/x = Φ(x) exercises the erfc fit across its whole range.
    const x = Float32Array.from({ length: 18 * 64 + 1 }, (_, i) => -9 + i / 64);
    const [X, Z] = [gpu.upload(x, 'x'), poisoned(gpu, x.length, 'z')];
    gelu(gpu, { buffer: X, shape: [x.length] }, { buffer: Z, shape: [x.length] });
    expectClose(await gpu.read(Z, x.length), geluRef(x), POINTWISE_TOL.gelu, 'gelu grid');
    gpu.release(X);
    gpu.release(Z);
  });
});

describe('float64 erf reference', () => {
  it('matches tabulated values', () => {
    // Values from CPython's math.erf / math.erfc (correctly rounded to ~1 ulp).
    const table: [number, number][] = [
      [0.5, 0.5204998778130465],
      [1, 0.8427007929497149],
      [2, 0.9953222650189527],
      [-0.3, -0.3286267594591274],
    ];
    for (const [z, v] of table) expect(Math.abs(erfRef(z) - v)).toBeLessThan(1e-15);
    expect(Math.abs(erfcRef(3) / 2.209049699858544e-5 - 1)).toBeLessThan(1e-13);
    expect(Math.abs(erfcRef(5) / 1.5374597944280349e-12 - 1)).toBeLessThan(1e-13);
    expect(Math.abs(erfcRef(2.9) / 4.109787809945886e-5 - 1)).toBeLessThan(1e-14);
    expect(Math.abs(erfcRef(7) / 4.183825607779414e-23 - 1)).toBeLessThan(1e-13);
  });
});

describe('pointwise bad input', () => {
  const bufs = () => [gpu.alloc(64, 'a'), gpu.alloc(64, 'b'), gpu.alloc(64, 'c')] as const;
  it('names both shapes when they differ', () => {
    const [a, b, c] = bufs();
    expect(() => pointwise(gpu, { op: 'axpby', x: { buffer: a, shape: [2, 3] }, y: { buffer: b, shape: [3, 2] }, out: { buffer: c, shape: [2, 3] } })).toThrow(
      /x \[2, 3\] and y \[3, 2\] differ in shape/,
    );
    expect(() => addBias(gpu, { buffer: a, shape: [4, 5] }, { buffer: b, shape: [4] }, { buffer: c, shape: [4, 5] })).toThrow(
      /x \[4, 5\] takes a broadcast row of \[5\], got \[4\]/,
    );
    expect(() => gelu(gpu, { buffer: a, shape: [8] }, { buffer: a, shape: [8] })).toThrow(/out must not share a buffer with x/);
    expect(() => gelu(gpu, { buffer: a, shape: [65] }, { buffer: b, shape: [65] })).toThrow(/x \[65\] needs 65 floats from offset 0 but its buffer "a" holds 64/);
    for (const buf of [a, b, c]) gpu.release(buf);
  });
});
