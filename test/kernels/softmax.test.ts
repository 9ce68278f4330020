// The softmax family against its float64 reference: rows of 1, primes, lengths past the vec4
// width and past one register block (64) and one 1024 row, with scale, rows of −∞ (→ 0, not NaN)
// and |x| up to 1e4; backward with a random upstream gradient; outputs poisoned with NaN first.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { softmax, softmaxBackward } from '../../kernels/softmax.ts';
import { softmaxBackwardRef, softmaxRef, softmaxTolerance } from '../../kernels/softmax.ref.ts';
import { expectClose } from '../helpers/close.ts';
import { placed, poisoned, testGpu } from '../helpers/gpu.ts';
import { testRng } from '../helpers/seed.ts';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.pool.trim());


interface Case {
  rows: number;
  cols: number;
  off?: number;
  scale?: number;
  /** A row of x set to −∞. */
  deadRow?: number;
  range?: number;
}

async function runCase(c: Case, salt: number): Promise<Float32Array> {
  const rng = testRng(salt);
  const { rows, cols } = c;
  const off = c.off ?? 0;
  const n = rows * cols;
  const x = rng.floats(n, -(c.range ?? 4), c.range ?? 4);
  if (c.deadRow !== undefined) x.fill(-Infinity, c.deadRow * cols, (c.deadRow + 1) * cols);
  const what = `softmax [${rows}, ${cols}] offset ${off}${c.deadRow !== undefined ? ` row ${c.deadRow} −∞` : ''}`;
  const X = placed(gpu, x, off, 'x');
  const Y = poisoned(gpu, off + n, 'y');
  softmax(gpu, {
    x: { buffer: X, shape: [rows, cols], offset: off },
    y: { buffer: Y, shape: [rows, cols], offset: off },
    scale: c.scale,
  });
  const y = await gpu.read(Y, n, off);
  const tol = softmaxTolerance(cols);
  expectClose(y, softmaxRef(x, rows, cols, c.scale), tol.fwd, what);

  // Backward from the kernel's own y (what training would feed it) and a random upstream gradient.
  const dy = rng.floats(n);
  const Yb = placed(gpu, y, off, 'y');
  const DY = placed(gpu, dy, off === 0 ? 0 : 2, 'dy');
  const DX = poisoned(gpu, off + n, 'dx');
  softmaxBackward(gpu, {
    y: { buffer: Yb, shape: [rows, cols], offset: off },
    dy: { buffer: DY, shape: [rows, cols], offset: off === 0 ? 0 : 2 },
    dx: { buffer: DX, shape: [rows, cols], offset: off },
    scale: c.scale,
  });
  expectClose(await gpu.read(DX, n, off), softmaxBackwardRef(y, dy, rows, cols, c.scale ?? 1), tol.bwd, `${what} backward`);
  for (const b of [X, Y, Yb, DY, DX]) gpu.release(b);
  return y;
}

describe('softmax', () => {
  it('matches float64 at awkward shapes, vec4 and scalar', async () => {
    // One 1024-wide row at offset 0 only: its register block (VPT 16) is the slowest pipeline to JIT.
    const shapes: [number, number, number[]][] = [[1, 1, [0, 3]], [3, 1, [0, 3]], [5, 7, [0, 3]], [4, 12, [0, 3]], [7, 33, [0, 3]], [3, 67, [0, 3]], [2, 251, [0, 3]], [5, 1024, [0]]];
    let salt = 0;
    for (const [rows, cols, offs] of shapes) for (const off of offs) await runCase({ rows, cols, off, scale: 0.37 }, salt++);
  });

  it('gives 0, not NaN, for a row of −∞, vec4 and scalar', async () => {
    for (const [rows, cols, off, dead, salt] of [[5, 13, 0, 1, 22], [9, 64, 2, 4, 23], [6, 64, 0, 5, 24], [4, 1, 0, 2, 25]] as const) {
      const y = await runCase({ rows, cols, off, deadRow: dead }, salt);
      expect(Array.from(y.subarray(dead * cols, (dead + 1) * cols)).every((v) => v === 0)).toBe(true);
    }
  });

  it('is stable at |x| up to 1e4', async () => {
    await runCase({ rows: 5, cols: 37, range: 1e4 }, 30);
    await runCase({ rows: 3, cols: 40, range: 1e4, scale: 0.125 }, 31);
  });

  it('gives the same bits twice', async () => {
    const a = await runCase({ rows: 300, cols: 67 }, 40);
    const b = await runCase({ rows: 300, cols: 67 }, 40);
    expect(Buffer.from(a.buffer).equals(Buffer.from(b.buffer))).toBe(true);
  });
});

describe('softmax bad input', () => {
  it('names the shapes that do not fit', () => {
    const [a, b] = [gpu.alloc(64, 'a'), gpu.alloc(64, 'b')];
    expect(() => softmax(gpu, { x: { buffer: a, shape: [4, 5] }, y: { buffer: b, shape: [5, 4] } })).toThrow(/x \[4, 5\] and y \[5, 4\] differ in shape/);
    expect(() => softmaxBackward(gpu, { y: { buffer: a, shape: [4, 5] }, dy: { buffer: b, shape: [4, 5] }, dx: { buffer: b, shape: [4, 5] } })).toThrow(
      /dx must not share a buffer with dy/,
    );
    const big = { size: 4 * 3 * 9000, label: 'big' } as GPUBuffer;
    expect(() => softmax(gpu, { x: { buffer: big, shape: [3, 9000] }, y: { buffer: big, shape: [3, 9000] } })).toThrow(/must not share|exceed/);
    for (const buf of [a, b]) gpu.release(buf);
  });
});
