// The subgroup matmul with a layernorm prologue (matmul_subgroups.wgsl with LN, and LN_OUT: the
// kernel also writes the normalised rows, means and 1/σ a training step's backward reads), which
// replaces the layernorm dispatch before a pre-norm linear of training.
// Forward: the product and the three outputs against float64 layernorm-then-product at awkward
// shapes (1 row, primes, rows past the 32-row tile and columns past the 128-column one, K = 1,
// off the vec4s, past one and two register rows), with bias, alpha, accumulation, the GELU
// epilogue, B stored either way, operands at offsets, outputs poisoned and the output buffer NaN
// around its three ranges. Backward: layernorm's backward and dW = dyᵀ·y fed the fused kernel's
// outputs give float64's gradients. And the property the step's equality to the unfused path
// rests on: every output is the bits of the layernorm kernel followed by the plain subgroup
// product. Refusals in one line.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { MAX_ROW } from '../../kernels/common.ts';
import { layernorm, layernormBackward } from '../../kernels/layernorm.ts';
import { layernormBackwardRef, layernormRef, layernormTolerance } from '../../kernels/layernorm.ref.ts';
import { chooseMatmulVariant, matmul, matmulLayernormVariant } from '../../kernels/matmul.ts';
import { matmulRef, matmulTolerance } from '../../kernels/matmul.ref.ts';
import { expectClose } from '../helpers/close.ts';
import { placed, poisoned, testGpu } from '../helpers/gpu.ts';
import { checkPrologueCase, lnInputs, packedOut, requireSubgroupVariant, type PrologueCase } from '../helpers/layernorm-prologue.ts';
import { testRng } from '../helpers/seed.ts';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.pool.trim());

// [M, N, K]: one row and one column; rows past one and two 32-row tiles (clamped rows in the last);
// columns past the 128-column workgroup; K = 1 (x̂ = 0, y = β), K off the vec4s, at and past one
// register row (64 floats; 128 and 130 in the tests below). Few layouts and register rows: each is
// a pipeline, which lavapipe takes many seconds to compile.
const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [17, 7, 3],
  [33, 131, 37],
  [67, 5, 65],
  [40, 129, 64],
];

/** Every case also checks the layernorm's outputs: packed as prenorm.ts packs them unless placed. */
const runCase = (c: PrologueCase, salt: number) => checkPrologueCase(gpu, { ...c, out: c.out ?? packedOut(c.shape[0], c.shape[2]) }, salt, 'subgroup');

describe('subgroup matmul with a layernorm prologue and its outputs', () => {
  it('forward: the product and the normalised rows, means and 1/σ match float64 at awkward shapes, B stored either way', async () => {
    requireSubgroupVariant(gpu);
    for (let i = 0; i < SHAPES.length; i++) await runCase({ shape: SHAPES[i]!, transB: i !== 1 && i !== 4 }, 170 + i);
  });

  it('forward with bias and alpha, accumulating into C, with the GELU epilogue; operands and outputs at offsets', async () => {
    requireSubgroupVariant(gpu);
    await runCase({ shape: [35, 41, 29], transB: true, bias: true, alpha: 0.75, offsets: [5, 3, 7], out: { y: 37, mean: 37 + 35 * 29 + 5, rstd: 0, size: 37 + 35 * 29 + 5 + 35 + 4 } }, 180);
    await runCase({ shape: [19, 133, 61], bias: true, accumulate: true, offsets: [1, 0, 2] }, 181);
    await runCase({ shape: [37, 97, 47], transB: true, bias: true, gelu: true, offsets: [3, 1, 0], out: { y: 40, mean: 2, rstd: 39 + 37 * 47 + 40, size: 3 * 40 + 37 * 47 } }, 182);
  });

  it('backward: layernorm backward and dW read the fused outputs and give float64 gradients', async () => {
    requireSubgroupVariant(gpu);
    for (const [i, [M, N, K]] of ([[1, 5, 3], [33, 19, 37], [41, 130, 67]] as const).entries()) {
      const rng = testRng(190 + i);
      const { x, gamma, beta } = lnInputs(rng, M, K);
      const w = rng.floats(N * K);
      const dy = rng.floats(M * N);
      const [A, G, Be, W, DY] = [x, gamma, beta, w, dy].map((d, j) => gpu.upload(d, `in${j}`)) as [GPUBuffer, GPUBuffer, GPUBuffer, GPUBuffer, GPUBuffer];
      const C = poisoned(gpu, M * N, 'C');
      const Out = poisoned(gpu, M * K + 2 * M, 'ln out');
      const [dYn, dX, dW, dG, dB] = [poisoned(gpu, M * K, 'dyn'), poisoned(gpu, M * K, 'dx'), poisoned(gpu, N * K, 'dW'), poisoned(gpu, K, 'dgamma'), poisoned(gpu, K, 'dbeta')];
      matmul(gpu, {
        a: { buffer: A, shape: [M, K] },
        b: { buffer: W, shape: [N, K] },
        c: { buffer: C, shape: [M, N] },
        transB: true,
        layernorm: { gamma: { buffer: G }, beta: { buffer: Be }, out: { buffer: Out, y: 0, mean: M * K, rstd: M * K + M } },
        variant: 'subgroup',
      });
      // y = LN(x)·Wᵀ: dW = dyᵀ·LN(x) (from the fused rows), dLN(x) = dy·W, then layernorm's backward
      // from x and the fused means and 1/σ.
      matmul(gpu, { a: { buffer: DY, shape: [M, N] }, b: { buffer: Out, shape: [M, K] }, c: { buffer: dW, shape: [N, K] }, transA: true });
      matmul(gpu, { a: { buffer: DY, shape: [M, N] }, b: { buffer: W, shape: [N, K] }, c: { buffer: dYn, shape: [M, K] } });
      layernormBackward(gpu, {
        x: { buffer: A, shape: [M, K] },
        gamma: { buffer: G, shape: [K] },
        mean: { buffer: Out, shape: [M], offset: M * K },
        rstd: { buffer: Out, shape: [M], offset: M * K + M },
        dy: { buffer: dYn, shape: [M, K] },
        dx: { buffer: dX, shape: [M, K] },
        dgamma: { buffer: dG, shape: [K] },
        dbeta: { buffer: dB, shape: [K] },
      });
      const [gdW, gdX, gdG, gdB] = [await gpu.read(dW, N * K), await gpu.read(dX, M * K), await gpu.read(dG, K), await gpu.read(dB, K)];
      for (const buf of [A, G, Be, W, DY, C, Out, dYn, dX, dW, dG, dB]) gpu.release(buf);
      const ref = layernormRef(x, gamma, beta, M, K);
      const dyn = matmulRef(dy, w, { M, N: K, K: N, batch: 1, transA: false, transB: false });
      const want = layernormBackwardRef(x, gamma, ref.mean, ref.rstd, dyn, M, K);
      const wantW = matmulRef(dy, ref.y, { M: N, N: K, K: M, batch: 1, transA: true, transB: false });
      const mt = matmulTolerance(Math.max(M, N));
      const lt = layernormTolerance(M, K);
      const what = `[${M}, ${N}, ${K}]`;
      expectClose(gdW, wantW, { atol: 4 * mt.atol, rtol: mt.rtol }, `${what}: dW`);
      // dLN(x) sums N products of inputs ≤ 1: its size scales the layernorm tolerances.
      const s = Math.sqrt(N);
      expectClose(gdX, want.dx, { atol: 8 * s * lt.dx.atol, rtol: 4 * lt.dx.rtol }, `${what}: dx`);
      expectClose(gdG, want.dgamma, { atol: 4 * s * lt.dparams.atol, rtol: 4 * lt.dparams.rtol }, `${what}: dγ`);
      expectClose(gdB, want.dbeta, { atol: 4 * s * lt.dparams.atol, rtol: 4 * lt.dparams.rtol }, `${what}: dβ`);
    }
  });

  it('gives the bits of the layernorm kernel followed by the plain subgroup product, outputs included', async () => {
    requireSubgroupVariant(gpu);
    // A training step with the fusion is held bit for bit to the step without it
    // (test/tensor/layernorm-fusion.test.ts): the prologue must sum and normalise as layernorm does.
    for (const [i, [M, N, K, gelu]] of ([[33, 300, 128, false], [70, 37, 61, true], [16, 9, 130, false], [1, 20, 64, true]] as const).entries()) {
      const rng = testRng(200 + i);
      const { x, gamma, beta } = lnInputs(rng, M, K);
      const w = rng.floats(N * K);
      const bias = rng.floats(N);
      const [A, G, Be, W, Bias] = [x, gamma, beta, w, bias].map((d, j) => gpu.upload(d, `in${j}`)) as [GPUBuffer, GPUBuffer, GPUBuffer, GPUBuffer, GPUBuffer];
      const Out = poisoned(gpu, M * K + 2 * M, 'ln out');
      const [Y, mean, rstd] = [poisoned(gpu, M * K, 'y'), poisoned(gpu, M, 'mean'), poisoned(gpu, M, 'rstd')];
      const [C1, C2, P1, P2] = [poisoned(gpu, M * N, 'fused'), poisoned(gpu, M * N, 'apart'), poisoned(gpu, M * N, 'preact fused'), poisoned(gpu, M * N, 'preact apart')];
      const common = { b: { buffer: W, shape: [N, K] }, transB: true, bias: { buffer: Bias }, variant: 'subgroup' as const };
      const g = (P: GPUBuffer) => (gelu ? { gelu: { mode: 'apply' as const, preact: { buffer: P } } } : {});
      matmul(gpu, { ...common, ...g(P1), a: { buffer: A, shape: [M, K] }, c: { buffer: C1, shape: [M, N] }, layernorm: { gamma: { buffer: G }, beta: { buffer: Be }, out: { buffer: Out, y: 0, mean: M * K, rstd: M * K + M } } });
      layernorm(gpu, { x: { buffer: A, shape: [M, K] }, gamma: { buffer: G, shape: [K] }, beta: { buffer: Be, shape: [K] }, y: { buffer: Y, shape: [M, K] }, mean: { buffer: mean, shape: [M] }, rstd: { buffer: rstd, shape: [M] } });
      matmul(gpu, { ...common, ...g(P2), a: { buffer: Y, shape: [M, K] }, c: { buffer: C2, shape: [M, N] } });
      const read = async (b: GPUBuffer, n: number, at = 0) => Array.from(await gpu.read(b, n, at));
      const what = `[${M}, ${N}, ${K}]${gelu ? ' +gelu' : ''}`;
      const fused = await read(C1, M * N);
      expect(fused.every(Number.isFinite), `${what} finite`).toBe(true);
      expect(fused, `${what}: product`).toEqual(await read(C2, M * N));
      if (gelu) expect(await read(P1, M * N), `${what}: pre-activation`).toEqual(await read(P2, M * N));
      expect(await read(Out, M * K), `${what}: normalised rows`).toEqual(await read(Y, M * K));
      expect(await read(Out, M, M * K), `${what}: means`).toEqual(await read(mean, M));
      expect(await read(Out, M, M * K + M), `${what}: 1/σ`).toEqual(await read(rstd, M));
      for (const buf of [A, G, Be, W, Bias, Out, Y, mean, rstd, C1, C2, P1, P2]) gpu.release(buf);
    }
  });

  it('is offered where the heuristic picks subgroup or skinny; refuses what it cannot do in one line', () => {
    for (const [M, N, K] of [[1, 2048, 128], [64, 512, 256], [2080, 192, 64], [16, 16, 16], [1, 4, 4]] as const) {
      const v = chooseMatmulVariant(gpu, M, N, K);
      expect(matmulLayernormVariant(gpu, M, N, K), `${M}x${N}x${K}`).toBe(v === 'skinny' || v === 'subgroup' ? v : null);
    }
    expect(matmulLayernormVariant(gpu, 64, 64, MAX_ROW + 1)).toBe(null);
    const [A, B, C, G, O] = [gpu.alloc(64, 'A'), gpu.alloc(64, 'B'), gpu.alloc(64, 'C'), gpu.alloc(64, 'G'), gpu.alloc(64, 'O')];
    const out = { buffer: O, y: 0, mean: 16, rstd: 20 };
    const call = { a: { buffer: A, shape: [4, 4] }, b: { buffer: B, shape: [4, 4] }, c: { buffer: C, shape: [4, 4] }, layernorm: { gamma: { buffer: G }, beta: { buffer: G }, out } };
    expect(() => matmul(gpu, { ...call, variant: 'skinny' })).toThrow(/layernorm's outputs \(layernorm.out\) are written by the subgroup variant only, not skinny/);
    expect(() => matmul(gpu, { ...call, variant: 'subgroup', a: { buffer: A, shape: [2, 4, 4] }, c: { buffer: C, shape: [2, 4, 4] } })).toThrow(/layernorm.out\) need batch 1, not 2/);
    expect(() => matmul(gpu, { ...call, variant: 'subgroup', layernorm: { ...call.layernorm, out: { ...out, mean: 15 } } })).toThrow(/normalised rows \[0, 16\) and means \[15, 19\) overlap/);
    expect(() => matmul(gpu, { ...call, variant: 'subgroup', layernorm: { ...call.layernorm, out: { ...out, rstd: 17 } } })).toThrow(/means \[16, 20\) and 1\/σ \[17, 21\) overlap/);
    expect(() => matmul(gpu, { ...call, variant: 'subgroup', layernorm: { ...call.layernorm, out: { ...out, buffer: A } } })).toThrow(/layernorm outputs must not share a buffer with A/);
    expect(() => matmul(gpu, { ...call, variant: 'subgroup', rowSumA: { offset: 32 } })).toThrow(/rowSumA sums op\(A\), which a layernorm prologue changes/);
    for (const buf of [A, B, C, G, O]) gpu.release(buf);
  });
});
