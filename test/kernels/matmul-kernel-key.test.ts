// matmul() looks its kernel up by kernelKey (gpu.kernelBy) instead of building kernelSpec on every
// call: two choices with one key must give one spec, or a product would run another's
// kernel. Checked over every variant this adapter runs, both transposes, row sums, GELU modes,
// layernorm prologues (with and without outputs) at several K, M, N around skinny's row-block
// and width steps and the subgroup variant's one-or-two-subgroup step (N = 64, 65), skinny's
// VEC4B and subgroup-shuffle forms, and the subgroup variant's vec4 loads of A and B. (One spec under two keys is harmless: both find the same
// pipeline.)
import { beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { kernelKey, kernelSpec, MATMUL_VARIANTS, matmulVariantAvailable, type MatmulVariant } from '../../kernels/matmul.ts';
import { testGpu } from '../helpers/gpu.ts';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});

describe('matmul kernel key', () => {
  it('names exactly one spec', () => {
    const specs = new Map<string, string>();
    const variants = (MATMUL_VARIANTS as readonly MatmulVariant[]).filter((v) => v !== 'splitk' && matmulVariantAvailable(gpu, v));
    let n = 0;
    for (const v of variants) {
      for (const tA of [false, true]) {
        for (const tB of [false, true]) {
          for (const rs of v === 'subgroup' ? [false, true] : [false]) {
            for (const gelu of [undefined, 'apply', 'grad'] as const) {
              for (const lnK of v === 'skinny' || v === 'subgroup' ? [undefined, 64, 100, 128, 512, 1000] : [undefined]) {
                for (const lnOut of lnK !== undefined && v === 'subgroup' ? [false, true] : [false]) {
                  for (const M of [1, 2, 3, 4, 5, 8, 9, 64]) {
                    for (const N of [1, 64, 65, 100, 384, 385, 768, 769, 4096]) {
                      const forms = v === 'skinny' ? [[false, false, false], [true, false, false], [true, true, false]] : v === 'subgroup' ? [[false, false, false], [true, false, false], [false, false, true], [true, false, true]] : [[false, false, false]];
                      for (const [vec4B, shuffleA, vec4A] of forms) {
                        const choice = { variant: v, transA: tA, transB: tB, rowSum: rs, gelu, M, N, lnK, lnOut, vec4B, shuffleA, vec4A };
                        const key = kernelKey(gpu, choice);
                        const spec = JSON.stringify(kernelSpec(gpu, choice));
                        const seen = specs.get(key);
                        if (seen !== undefined) expect(spec, key).toBe(seen);
                        else specs.set(key, spec);
                        n++;
                      }
                    }
                  }
                }
              }
            }
          }
        }
      }
    }
    expect(n).toBeGreaterThan(1000);
  });
});
