// The subgroup-matrix matmul (shaders/matmul_sgmatrix.wgsl: f16 inputs, f32 accumulation on
// tensor cores): where it may run, and a clean refusal where it may not (lavapipe and SwiftShader
// have no subgroup matrices: CI tests this side); where the adapter has them (the GPU run kit,
// docs/gpu-kit.md), its results against float64 of the f16-rounded inputs at awkward shapes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { pickSubgroupMatrixConfig, type SubgroupMatrixConfig } from '../../src/gpu/probe.ts';
import { MATMUL_VARIANTS, chooseMatmulVariant, matmul, matmulVariantAvailable, sgmatrixConfig } from '../../kernels/matmul.ts';
import { matmulRef, matmulTolerance } from '../../kernels/matmul.ref.ts';
import { f16RoundAll } from '../../kernels/f16.ref.ts';
import { expectClose } from '../helpers/close.ts';
import { poisoned, testGpu } from '../helpers/gpu.ts';
import { testRng } from '../helpers/seed.ts';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.pool.trim());

const cfg = (componentType: string, resultComponentType: string, M: number, N = M, K = M): SubgroupMatrixConfig => ({ componentType, resultComponentType, M, N, K });

/** A device as far as sgmatrixConfig looks at one. */
function fakeGpu(features: string[], sizes: [number, number], configs: SubgroupMatrixConfig[]): Gpu {
  return { has: (f: string) => features.includes(f), adapter: { subgroupMinSize: sizes[0], subgroupMaxSize: sizes[1], subgroupMatrixConfigs: configs } } as unknown as Gpu;
}
const ALL = ['chromium-experimental-subgroup-matrix', 'shader-f16', 'subgroups'];

describe('matmul sgmatrix: detection and fallback', () => {
  it('picks the largest f16→f32 configuration that tiles a 32x32x32 block, none otherwise', () => {
    expect(pickSubgroupMatrixConfig([cfg('f16', 'f16', 16), cfg('f16', 'f32', 8), cfg('f16', 'f32', 16), cfg('f32', 'f32', 8)])).toEqual(cfg('f16', 'f32', 16));
    expect(pickSubgroupMatrixConfig([cfg('f32', 'f32', 8)])).toBeNull(); // Apple's f32 8x8x8 only
    expect(pickSubgroupMatrixConfig([cfg('f16', 'f16', 16)])).toBeNull(); // f16 accumulation only
    expect(pickSubgroupMatrixConfig([cfg('f16', 'f32', 12)])).toBeNull();
    expect(pickSubgroupMatrixConfig([cfg('f16', 'f32', 16, 8, 16), cfg('f16', 'f32', 8)])).toEqual(cfg('f16', 'f32', 16, 8, 16));
    expect(pickSubgroupMatrixConfig([])).toBeNull();
  });

  it('needs the feature, f16, subgroups of exactly 32 and a usable configuration', () => {
    const nv = [cfg('f16', 'f32', 16)];
    expect(sgmatrixConfig(fakeGpu(ALL, [32, 32], nv))).toEqual(nv[0]);
    expect(sgmatrixConfig(fakeGpu(ALL.slice(1), [32, 32], nv))).toBeNull();
    expect(sgmatrixConfig(fakeGpu(['chromium-experimental-subgroup-matrix', 'subgroups'], [32, 32], nv))).toBeNull();
    expect(sgmatrixConfig(fakeGpu(['chromium-experimental-subgroup-matrix', 'shader-f16'], [32, 32], nv))).toBeNull();
    expect(sgmatrixConfig(fakeGpu(ALL, [32, 64], nv))).toBeNull(); // AMD's wave32/64
    expect(sgmatrixConfig(fakeGpu(ALL, [16, 16], nv))).toBeNull();
    expect(sgmatrixConfig(fakeGpu(ALL, [32, 32], [cfg('f32', 'f32', 8)]))).toBeNull();
  });

  it('on this adapter: available exactly where detected; refused in one clear line where not; never chosen by the heuristic', () => {
    const available = matmulVariantAvailable(gpu, 'sgmatrix');
    expect(available).toBe(sgmatrixConfig(gpu) !== null);
    if (!gpu.has('chromium-experimental-subgroup-matrix')) expect(available).toBe(false);
    for (const [M, N, K] of [[4096, 4096, 4096], [1, 1, 1], [128, 3072, 768], [16, 16, 16]] as const) {
      expect((MATMUL_VARIANTS as readonly string[]).includes(chooseMatmulVariant(gpu, M, N, K))).toBe(true);
    }
    if (available) return;
    const [A, B, C] = [gpu.alloc(4, 'A'), gpu.alloc(4, 'B'), gpu.alloc(4, 'C')];
    expect(() => matmul(gpu, { a: { buffer: A, shape: [2, 2] }, b: { buffer: B, shape: [2, 2] }, c: { buffer: C, shape: [2, 2] }, variant: 'sgmatrix' })).toThrow(
      /^matmul: variant sgmatrix needs subgroup matrices \(chromium-experimental-subgroup-matrix.*this adapter lacks; use another variant$/,
    );
    for (const b of [A, B, C]) gpu.release(b);
  });
});

// [batch, M, N, K]: one element, primes, just past the 64x64 tile and the 32-deep slice.
const SHAPES: [number, number, number, number][] = [
  [1, 1, 1, 1],
  [1, 65, 67, 33],
  [2, 37, 129, 70],
  [1, 128, 64, 96],
];

describe('matmul sgmatrix on subgroup matrices', () => {
  for (const layout of ['NN', 'NT', 'TN'] as const) {
    it(`${layout} at awkward shapes against float64 of the f16-rounded inputs, with bias, alpha and accumulation`, async () => {
      if (!matmulVariantAvailable(gpu, 'sgmatrix')) {
        // No subgroup matrices here (CI's lavapipe): the detection test above covers this side.
        expect(sgmatrixConfig(gpu)).toBeNull();
        return;
      }
      for (let s = 0; s < SHAPES.length; s++) {
        const [batch, M, N, K] = SHAPES[s]!;
        const rng = testRng(s);
        const transA = layout === 'TN';
        const transB = layout === 'NT';
        const a = rng.floats(batch * M * K);
        const b = rng.floats(batch * K * N);
        const bias = rng.floats(N);
        const c0 = s % 2 ? rng.floats(batch * M * N) : undefined;
        const A = gpu.upload(a, 'A');
        const B = gpu.upload(b, 'B');
        const Bias = gpu.upload(bias, 'bias');
        const C = c0 ? gpu.upload(c0, 'C') : poisoned(gpu, batch * M * N, 'C');
        matmul(gpu, {
          a: { buffer: A, shape: [batch, ...(transA ? [K, M] : [M, K])] },
          b: { buffer: B, shape: [batch, ...(transB ? [N, K] : [K, N])] },
          c: { buffer: C, shape: [batch, M, N] },
          bias: { buffer: Bias },
          alpha: 0.5,
          accumulate: c0 !== undefined,
          transA,
          transB,
          variant: 'sgmatrix',
        });
        const got = await gpu.read(C, batch * M * N);
        const want = matmulRef(f16RoundAll(a), f16RoundAll(b), { M, N, K, batch, transA, transB, strideA: M * K }, { alpha: 0.5, bias, accumulate: c0 });
        for (const buf of [A, B, C, Bias]) gpu.release(buf);
        expectClose(got, want, matmulTolerance(K), `sgmatrix ${layout} [${SHAPES[s]}]`);
      }
    });
  }
});
