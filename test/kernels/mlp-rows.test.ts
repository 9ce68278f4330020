// The one-dispatch pre-norm MLP of a few rows (kernels/mlp_rows.ts) against float64 layernorm →
// c_fc → GELU → c_proj (+ residual) at awkward shapes: one row and up to MLP_ROWS_MAX, K at and
// off the register row's sizes, hidden and N past the 64-invocation workgroup (clamped columns),
// every operand at an offset with NaN around it, the output poisoned. And what a cached decoding
// step's equality to recomputation rests on: through mlpGelu it gives the bits of the two matmuls
// it replaces (COCA_MLP_ROWS=0), in one dispatch where they take two; and it is left alone where a
// tape records or there are more rows.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { layernormRef } from '../../kernels/layernorm.ref.ts';
import { matmulRef } from '../../kernels/matmul.ref.ts';
import { MLP_ROWS_MAX, mlpRows, mlpRowsFits, mlpRowsPay } from '../../kernels/mlp_rows.ts';
import { geluRef } from '../../kernels/pointwise.ref.ts';
import { mlpGelu } from '../../src/tensor/ops/linear.ts';
import { noGrad, Tape, withTape } from '../../src/tensor/tape.ts';
import { Tensor } from '../../src/tensor/tensor.ts';
import { expectClose } from '../helpers/close.ts';
import { kernelKeys } from '../helpers/dispatches.ts';
import { placed, poisoned, testGpu } from '../helpers/gpu.ts';
import { lnInputs } from '../helpers/layernorm-prologue.ts';
import { testRng } from '../helpers/seed.ts';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.pool.trim());
afterEach(() => {
  delete process.env.COCA_MLP_ROWS;
});

interface Case {
  M: number;
  K: number;
  hidden: number;
  N: number;
  residual: boolean;
  /** Offsets (floats) of x, W1, b1, W2, b2, γ, β, residual, y; the weights' multiples of 4. */
  offsets?: number[];
}

async function check(c: Case, salt: number): Promise<void> {
  const { M, K, hidden, N } = c;
  const rng = testRng(salt);
  const { x, gamma, beta } = lnInputs(rng, M, K);
  // Weights at PyTorch's init scale, so the hidden and output rows stay of order 1.
  const w1 = rng.floats(hidden * K, -1 / Math.sqrt(K), 1 / Math.sqrt(K));
  const b1 = rng.floats(hidden);
  const w2 = rng.floats(N * hidden, -1 / Math.sqrt(hidden), 1 / Math.sqrt(hidden));
  const b2 = rng.floats(N);
  const res = rng.floats(M * N, -2, 2);
  const o = c.offsets ?? [0, 0, 0, 0, 0, 0, 0, 0, 0];
  const bufs = [x, w1, b1, w2, b2, gamma, beta, res].map((d, i) => placed(gpu, d, o[i]!, `in${i}`, 5));
  const ySize = o[8]! + M * N + 3;
  const Y = poisoned(gpu, ySize, 'y');
  const at = (i: number) => ({ buffer: bufs[i]!, offset: o[i] });
  mlpRows(gpu, { M, K, hidden, N, x: at(0), w1: at(1), b1: at(2), w2: at(3), b2: at(4), gamma: at(5), beta: at(6), residual: c.residual ? at(7) : undefined, y: { buffer: Y, offset: o[8] } });
  const all = await gpu.read(Y, ySize);
  for (const b of [...bufs, Y]) gpu.release(b);
  const got = all.subarray(o[8]!, o[8]! + M * N);
  const xn = layernormRef(x, gamma, beta, M, K).y;
  const h = matmulRef(xn, w1, { M, N: hidden, K, batch: 1, transA: false, transB: true }, { bias: b1 });
  const want = matmulRef(geluRef(h), w2, { M, N, K: hidden, batch: 1, transA: false, transB: true }, { bias: b2, accumulate: c.residual ? res : undefined });
  // matmulTolerance's per-product bound (inputs of order 1), carried through the second product's
  // `hidden` terms: |x̂| reaches ~4, so four times it.
  expectClose(got, want, { atol: 4e-5 * Math.sqrt(hidden), rtol: 1e-4 }, `${M}x${K}→${hidden}→${N}${c.residual ? ' +residual' : ''}`);
  const outside = [...all.subarray(0, o[8]!), ...all.subarray(o[8]! + M * N)];
  expect(outside.every(Number.isNaN), 'nothing written outside y').toBe(true);
}

describe('the pre-norm MLP of a few rows in one dispatch', () => {
  it('matches float64 layernorm → c_fc → GELU → c_proj (+ residual) at awkward shapes, operands at offsets', async () => {
    await check({ M: 1, K: 4, hidden: 4, N: 1, residual: true }, 1);
    await check({ M: 3, K: 12, hidden: 20, N: 7, residual: true, offsets: [5, 4, 3, 8, 1, 2, 6, 3, 2] }, 2);
    await check({ M: 4, K: 68, hidden: 132, N: 67, residual: false, offsets: [1, 12, 0, 4, 5, 3, 0, 0, 7] }, 3);
    await check({ M: 2, K: 128, hidden: 512, N: 128, residual: true }, 4);
  });

  it('through mlpGelu: the bits of the two matmuls it replaces, in one dispatch (by default at one row)', async () => {
    // Past MLP_ROWS_MAX rows mlpGelu takes it only when COCA_MLP_ROWS allows as many.
    for (const [i, [M, K, hidden]] of ([[1, 128, 512], [3, 36, 68], [4, 20, 12]] as const).entries()) {
      const rng = testRng(10 + i);
      const { x, gamma, beta } = lnInputs(rng, M, K);
      const t = (d: Float32Array, shape: number[], name: string) => Tensor.fromArray(gpu, d, shape, name);
      const inputs = [t(x, [M, K], 'x'), t(rng.floats(hidden * K, -0.2, 0.2), [hidden, K], 'w1'), t(rng.floats(hidden), [hidden], 'b1'), t(rng.floats(K * hidden, -0.2, 0.2), [K, hidden], 'w2'), t(rng.floats(K), [K], 'b2'), t(gamma, [K], 'gamma'), t(beta, [K], 'beta')];
      const [X, W1, B1, W2, B2, G, Be] = inputs as [Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor];
      const run = async (setting: string | undefined) => {
        if (setting === undefined) delete process.env.COCA_MLP_ROWS;
        else process.env.COCA_MLP_ROWS = setting;
        let y: Tensor | undefined;
        const keys = kernelKeys(gpu, () => {
          y = noGrad(() => mlpGelu({ x: X, norm: { weight: G, bias: Be } }, W1, B1, W2, B2, X));
        });
        const values = await y!.toArray();
        y!.release();
        return { keys, values };
      };
      const fused = await run(M <= MLP_ROWS_MAX ? undefined : String(M));
      const apart = await run('0');
      expect(fused.keys, `${M}x${K}→${hidden}`).toEqual([expect.stringMatching(/^mlp_rows:/)]);
      expect(apart.keys.length, `${M}x${K}→${hidden}`).toBeGreaterThanOrEqual(2);
      expect(apart.keys.some((k) => k.startsWith('mlp_rows')), `${M}x${K}→${hidden}`).toBe(false);
      expect(fused.values.every(Number.isFinite), `${M}x${K}→${hidden} finite`).toBe(true);
      expect(Array.from(fused.values), `${M}x${K}→${hidden}`).toEqual(Array.from(apart.values));
      for (const x of inputs) x.release();
    }
  });

  it('is left to the matmuls past MLP_ROWS_MAX rows, under a tape, or where the vec4 loads cannot run', () => {
    expect(mlpRowsPay(gpu, MLP_ROWS_MAX)).toBe(true);
    expect(mlpRowsPay(gpu, MLP_ROWS_MAX + 1)).toBe(false);
    expect(mlpRowsFits(gpu, 128, 512, 0, 0)).toBe(true);
    expect(mlpRowsFits(gpu, 130, 512, 0, 0)).toBe(false);
    expect(mlpRowsFits(gpu, 128, 510, 0, 0)).toBe(false);
    expect(mlpRowsFits(gpu, 128, 512, 2, 0)).toBe(false);
    const rng = testRng(20);
    const [K, hidden] = [16, 32];
    const X = Tensor.fromArray(gpu, rng.floats(K), [1, K], 'x', true);
    const params = [Tensor.fromArray(gpu, rng.floats(hidden * K), [hidden, K], 'w1'), Tensor.fromArray(gpu, rng.floats(hidden), [hidden], 'b1'), Tensor.fromArray(gpu, rng.floats(K * hidden), [K, hidden], 'w2'), Tensor.fromArray(gpu, rng.floats(K), [K], 'b2')] as const;
    const [G, Be] = [Tensor.fromArray(gpu, rng.floats(K), [K], 'gamma'), Tensor.fromArray(gpu, rng.floats(K), [K], 'beta')];
    const tape = new Tape();
    const keys = kernelKeys(gpu, () => {
      // A tape records and X requires a gradient: the backward needs the hidden rows.
      withTape(tape, () => mlpGelu({ x: X, norm: { weight: G, bias: Be } }, ...params, X));
    });
    tape.dispose();
    expect(keys.some((k) => k.startsWith('mlp_rows'))).toBe(false);
    for (const t of [X, ...params, G, Be]) t.release();
  });

  it('refuses more rows than workgroups, misaligned weights and y over an input, in one line', () => {
    const b = gpu.alloc(4096, 'b');
    const y = gpu.alloc(512, 'y');
    const call = { M: 1, K: 16, hidden: 32, N: 16, x: { buffer: b }, w1: { buffer: b }, b1: { buffer: b }, w2: { buffer: b }, b2: { buffer: b }, gamma: { buffer: b }, beta: { buffer: b }, y: { buffer: y } };
    const most = gpu.limits.maxComputeWorkgroupsPerDimension;
    expect(() => mlpRows(gpu, { ...call, M: most + 1 })).toThrow(new RegExp(`${most + 1} rows, one workgroup each, past the adapter's ${most}`));
    expect(() => mlpRows(gpu, { ...call, w1: { buffer: b, offset: 2 } })).toThrow(/16-byte aligned/);
    expect(() => mlpRows(gpu, { ...call, y: { buffer: b } })).toThrow(/y must not share a buffer with x/);
    expect(() => mlpRows(gpu, { ...call, K: 0 })).toThrow(/K = 0; every dimension must be a positive integer/);
    gpu.release(b);
    gpu.release(y);
  });
});
