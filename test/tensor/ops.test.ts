// Every op on the tape: forward against float64, backward against finite differences of the same
// float64 function, with a random upstream gradient, at awkward shapes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { linear, matmul, mlpGelu } from '../../src/tensor/ops/linear.ts';
import { add, gelu, mul, scale } from '../../src/tensor/ops/pointwise.ts';
import { addBroadcastRow, concatSeq, sliceSeq } from '../../src/tensor/ops/sequence.ts';
import { attention, attentionPathAvailable, attentionRuns } from '../../src/tensor/ops/attention.ts';
import { ShapeError } from '../../src/gpu/errors.ts';
import { Tensor } from '../../src/tensor/tensor.ts';
import { embedding } from '../../src/tensor/ops/embedding.ts';
import { layerNorm } from '../../src/tensor/ops/layernorm.ts';
import { crossEntropy } from '../../src/tensor/ops/loss.ts';
import { expandBatch, narrowRows, reshape } from '../../src/tensor/ops/shape.ts';
import { IGNORE_INDEX, releaseTokenIds, uploadTokenIds } from '../../src/tensor/ids.ts';
import { geluRef } from '../../kernels/pointwise.ref.ts';
import { matmulRef } from '../../kernels/matmul.ref.ts';
import { testGpu } from '../helpers/gpu.ts';
import { checkOp } from '../helpers/opcheck.ts';
import { testRng } from '../helpers/seed.ts';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.pool.trim());

const map2 = (a: Float64Array, b: Float64Array, f: (x: number, y: number) => number) => a.map((x, i) => f(x, b[i]!));

describe('ops', () => {
  it('linear with bias, batched input', () =>
    checkOp(gpu, testRng(1), {
      name: 'linear',
      shapes: [[2, 3, 5], [7, 5], [7]],
      gpu: ([x, w, b]) => linear(x!, w!, b!),
      ref: ([x, w, b]) => matmulRef(x!, w!, { M: 6, N: 7, K: 5, batch: 1, transA: false, transB: true }, { bias: b }),
    }));

  it('linear with its gradients in an arena: the bias gradient written by the dW matmul', () =>
    checkOp(gpu, testRng(11), {
      name: 'linear (arena)',
      shapes: [[2, 17, 7], [23, 7], [23]],
      arena: [1, 2],
      gpu: ([x, w, b]) => linear(x!, w!, b!),
      ref: ([x, w, b]) => matmulRef(x!, w!, { M: 34, N: 23, K: 7, batch: 1, transA: false, transB: true }, { bias: b }),
    }));

  // c_proj(GELU(c_fc(x))) with GELU in the first matmul's epilogue and GELU' in the backward's;
  // big enough that the subgroup kernel (and so the fused bias gradient) runs where it can.
  const mlpRef = ([x, w1, b1, w2, b2]: Float64Array[]) => {
    const h = matmulRef(x!, w1!, { M: 34, N: 23, K: 7, batch: 1, transA: false, transB: true }, { bias: b1 });
    return matmulRef(geluRef(h), w2!, { M: 34, N: 19, K: 23, batch: 1, transA: false, transB: true }, { bias: b2 });
  };
  it.each([
    ['own buffers', undefined],
    ['an arena', [1, 2, 3, 4]],
  ] as const)('mlpGelu, gradients in %s', (_, arena) =>
    checkOp(gpu, testRng(12), {
      name: 'mlpGelu',
      shapes: [[2, 17, 7], [23, 7], [23], [19, 23], [19]],
      arena: arena ? [...arena] : undefined,
      gpu: ([x, w1, b1, w2, b2]) => mlpGelu(x!, w1!, b1!, w2!, b2!),
      ref: mlpRef,
    }));

  it('linear and mlpGelu onto a residual (the matmul accumulates onto a copy of it)', async () => {
    await checkOp(gpu, testRng(13), {
      name: 'linear + residual',
      shapes: [[2, 17, 7], [23, 7], [23], [2, 17, 23]],
      arena: [1, 2],
      gpu: ([x, w, b, r]) => linear(x!, w!, b!, r!),
      ref: ([x, w, b, r]) => matmulRef(x!, w!, { M: 34, N: 23, K: 7, batch: 1, transA: false, transB: true }, { bias: b, accumulate: r }),
    });
    await checkOp(gpu, testRng(14), {
      name: 'mlpGelu + residual',
      shapes: [[2, 17, 7], [23, 7], [23], [19, 23], [19], [2, 17, 19]],
      gpu: ([x, w1, b1, w2, b2, r]) => mlpGelu(x!, w1!, b1!, w2!, b2!, r!),
      ref: (xs) => mlpRef(xs).map((v, i) => v + xs[5]![i]!),
    });
  });

  it('batched matmul with transposes', () =>
    checkOp(gpu, testRng(2), {
      name: 'matmul',
      shapes: [[2, 5, 3], [2, 4, 5]],
      gpu: ([a, b]) => matmul(a!, b!, { transA: true, transB: true }),
      ref: ([a, b]) => matmulRef(a!, b!, { M: 3, N: 4, K: 5, batch: 2, transA: true, transB: true }),
    }));

  it('add, mul, scale, gelu', async () => {
    const rng = testRng(3);
    await checkOp(gpu, rng, { name: 'add', shapes: [[3, 7], [3, 7]], gpu: ([a, b]) => add(a!, b!), ref: ([a, b]) => map2(a!, b!, (x, y) => x + y) });
    await checkOp(gpu, rng, { name: 'mul', shapes: [[13], [13]], gpu: ([a, b]) => mul(a!, b!), ref: ([a, b]) => map2(a!, b!, (x, y) => x * y) });
    await checkOp(gpu, rng, { name: 'scale', shapes: [[5, 1]], gpu: ([a]) => scale(a!, -0.3), ref: ([a]) => a!.map((x) => -0.3 * x) });
    await checkOp(gpu, rng, { name: 'gelu', shapes: [[2, 9]], gpu: ([a]) => gelu(a!), ref: ([a]) => Float64Array.from(geluRef(a!)) });
  });

  it('a tensor used by two ops gets the sum of both gradients', () =>
    checkOp(gpu, testRng(4), {
      name: 'x*x + gelu(x)',
      shapes: [[11]],
      gpu: ([x]) => add(mul(x!, x!), gelu(x!)),
      ref: ([x]) => {
        const g = geluRef(x!);
        return x!.map((v, i) => v * v + g[i]!);
      },
    }));

  it('sequence slices, concatenation with a broadcast CLS row, position rows', async () => {
    const rng = testRng(5);
    const [B, L, C] = [3, 5, 4];
    await checkOp(gpu, rng, {
      name: 'sliceSeq',
      shapes: [[B, L, C]],
      gpu: ([x]) => sliceSeq(x!, 1, L - 2),
      ref: ([x]) => Float64Array.from({ length: B * (L - 2) * C }, (_, i) => {
        const b = Math.floor(i / ((L - 2) * C));
        const r = Math.floor(i / C) % (L - 2);
        return x![b * L * C + (r + 1) * C + (i % C)]!;
      }),
    });
    await checkOp(gpu, rng, {
      name: 'concatSeq(cls, x)',
      shapes: [[1, C], [B, L, C]],
      gpu: ([cls, x]) => concatSeq([cls!, x!]),
      ref: ([cls, x]) => Float64Array.from({ length: B * (L + 1) * C }, (_, i) => {
        const b = Math.floor(i / ((L + 1) * C));
        const r = Math.floor(i / C) % (L + 1);
        return r === 0 ? cls![i % C]! : x![b * L * C + (r - 1) * C + (i % C)]!;
      }),
    });
    await checkOp(gpu, rng, {
      name: 'addBroadcastRow',
      shapes: [[B, L, C], [L, C]],
      gpu: ([x, pos]) => addBroadcastRow(x!, pos!),
      ref: ([x, pos]) => x!.map((v, i) => v + pos![i % (L * C)]!),
    });
  });

  it('layerNorm: input, weight and bias', () =>
    checkOp(gpu, testRng(6), {
      name: 'layerNorm',
      shapes: [[2, 3, 7], [7], [7]],
      gpu: ([x, w, b]) => layerNorm(x!, w!, b!),
      ref: ([x, w, b]) => {
        const C = 7;
        const y = new Float64Array(x!.length);
        for (let r = 0; r < x!.length / C; r++) {
          const row = x!.subarray(r * C, (r + 1) * C);
          const mean = row.reduce((a, v) => a + v, 0) / C;
          const variance = row.reduce((a, v) => a + (v - mean) ** 2, 0) / C;
          for (let c = 0; c < C; c++) y[r * C + c] = ((row[c]! - mean) / Math.sqrt(variance + 1e-5)) * w![c]! + b![c]!;
        }
        return y;
      },
    }));

  it('attention: causal self-attention over one q|k|v tensor on each path, and cross-attention with a key mask', async () => {
    const rng = testRng(7);
    const [B, H, D] = [2, 2, 4];
    const d = H * D;
    /** softmax(q·kᵀ/√D + mask)·v per head, in float64; q at column qc of rows [B, Lq, Cq], k and v likewise. */
    const ref = (q: Float64Array, qc: number, Cq: number, Lq: number, kv: Float64Array, kc: number, vc: number, Ckv: number, Lk: number, allowed: (b: number, i: number, j: number) => boolean) => {
      const o = new Float64Array(B * Lq * d);
      for (let b = 0; b < B; b++)
        for (let h = 0; h < H; h++)
          for (let i = 0; i < Lq; i++) {
            const s = Array.from({ length: Lk }, (_, j) => {
              if (!allowed(b, i, j)) return -Infinity;
              let dot = 0;
              for (let e = 0; e < D; e++) dot += q[(b * Lq + i) * Cq + qc + h * D + e]! * kv[(b * Lk + j) * Ckv + kc + h * D + e]!;
              return dot / Math.sqrt(D);
            });
            const m = Math.max(...s);
            const p = s.map((x) => Math.exp(x - m));
            const z = p.reduce((a, x) => a + x, 0);
            for (let e = 0; e < D; e++) o[(b * Lq + i) * d + h * D + e] = p.reduce((a, pj, j) => a + (pj / z) * kv[(b * Lk + j) * Ckv + vc + h * D + e]!, 0);
          }
      return o;
    };
    const L = 5;
    // Each path keeps different state for the backward (the unfused one its probabilities).
    for (const path of ['fused', 'unfused'] as const) {
      if (!attentionPathAvailable(gpu, path, D)) {
        // Only the fused path can be missing, on adapters without a fixed subgroup size ≤ 64.
        expect(path === 'fused' && (!gpu.has('subgroups') || gpu.subgroupSize === 0 || gpu.subgroupSize > 64)).toBe(true);
        continue;
      }
      await checkOp(gpu, rng, {
        name: `attention (causal, one q|k|v tensor, ${path})`,
        shapes: [[B, L, 3 * d]],
        gpu: ([qkv]) => attention({ t: qkv!, col: 0 }, { t: qkv!, col: d }, { t: qkv!, col: 2 * d }, d, { heads: H, causal: true, path }),
        ref: ([qkv]) => ref(qkv!, 0, 3 * d, L, qkv!, d, 2 * d, 3 * d, L, (_, i, j) => j <= i),
      });
    }
    const [Lq, Lk] = [3, 6];
    const mask = Uint32Array.from({ length: B * Lk }, (_, i) => (i % Lk < Lk - (i < Lk ? 1 : 3) ? 1 : 0));
    const keyMask = gpu.upload(mask, 'key_mask');
    try {
      await checkOp(gpu, rng, {
        name: 'attention (cross, key mask)',
        shapes: [[B, Lq, d], [B, Lk, 2 * d]],
        gpu: ([q, kv]) => attention({ t: q!, col: 0 }, { t: kv!, col: 0 }, { t: kv!, col: d }, d, { heads: H, keyMask }),
        ref: ([q, kv]) => ref(q!, 0, d, Lq, kv!, 0, d, 2 * d, Lk, (b, _, j) => mask[b * Lk + j] !== 0),
      });
    } finally {
      gpu.release(keyMask);
    }
  });

  it('embedding: the table gets the sum of the rows each id took, repeated ids included', async () => {
    const [V, D] = [5, 3];
    const idsHost = [4, 1, 1, 0, 4, 4, 2, 1];
    const ids = uploadTokenIds(gpu, idsHost, { shape: [2, 4], vocab: V });
    try {
      await checkOp(gpu, testRng(8), {
        name: 'embedding',
        shapes: [[V, D]],
        gpu: ([table]) => embedding(table!, ids),
        ref: ([table]) => Float64Array.from({ length: idsHost.length * D }, (_, i) => table![idsHost[Math.floor(i / D)]! * D + (i % D)]!),
      });
    } finally {
      releaseTokenIds(gpu, ids);
    }
  });

  it('crossEntropy: mean over the targets that count, the ignored ones left out', async () => {
    const [N, V] = [5, 6];
    const targetsHost = [3, IGNORE_INDEX, 0, 5, IGNORE_INDEX];
    const targets = uploadTokenIds(gpu, targetsHost);
    try {
      await checkOp(gpu, testRng(9), {
        name: 'crossEntropy',
        shapes: [[N, V]],
        gpu: ([logits]) => crossEntropy(logits!, targets),
        ref: ([logits]) => {
          let sum = 0;
          let n = 0;
          targetsHost.forEach((t, r) => {
            if (t === IGNORE_INDEX) return;
            const row = logits!.subarray(r * V, (r + 1) * V);
            sum += Math.log(row.reduce((a, x) => a + Math.exp(x), 0)) - row[t]!;
            n++;
          });
          return Float64Array.of(sum / n);
        },
      });
    } finally {
      releaseTokenIds(gpu, targets);
    }
  });

  it('views: reshape (used twice, so its gradients add), narrowRows (two ranges of one tensor), expandBatch', async () => {
    const rng = testRng(10);
    await checkOp(gpu, rng, {
      name: 'reshape',
      shapes: [[2, 3, 4]],
      gpu: ([x]) => mul(reshape(x!, [6, 4]), reshape(x!, [6, 4])),
      ref: ([x]) => x!.map((v) => v * v),
    });
    await checkOp(gpu, rng, {
      name: 'narrowRows',
      shapes: [[6, 3]],
      gpu: ([x]) => add(narrowRows(x!, 0, 2), scale(narrowRows(x!, 3, 2), 2)),
      ref: ([x]) => Float64Array.from({ length: 6 }, (_, i) => x![i]! + 2 * x![9 + i]!),
    });
    await checkOp(gpu, rng, {
      name: 'expandBatch',
      shapes: [[2, 3]],
      gpu: ([x]) => expandBatch(x!, 4),
      ref: ([x]) => Float64Array.from({ length: 4 * 6 }, (_, i) => x![i % 6]!),
    });
  });

  it('attention runs the path it is told to and says so; a forced path that cannot run is refused', () => {
    const x = (C: number) => Tensor.fromArray(gpu, testRng(11).floats(2 * 3 * C), [2, 3, C], 'x');
    const [x8, x20] = [x(3 * 8), x(3 * 20)];
    try {
      const run = (t: Tensor, d: number, path?: 'fused' | 'unfused') => {
        const before = attentionRuns();
        attention({ t, col: 0 }, { t, col: d }, { t, col: 2 * d }, d, { heads: 2, path }).release();
        const after = attentionRuns();
        return { fused: after.fused - before.fused, unfused: after.unfused - before.unfused };
      };
      expect(run(x8, 8, 'unfused')).toEqual({ fused: 0, unfused: 1 });
      // Head dim 10 is not a multiple of 4: the fused kernel cannot run it, and saying so beats
      // running the unfused one under the fused one's name.
      expect(() => run(x20, 20, 'fused')).toThrow(ShapeError);
      expect(() => run(x20, 20, 'fused')).toThrow(/fused path needs .* \(D = 10\); use path 'unfused'/);
      expect(run(x20, 20)).toEqual({ fused: 0, unfused: 1 });
      if (attentionPathAvailable(gpu, 'fused', 4)) expect(run(x8, 8, 'fused')).toEqual({ fused: 1, unfused: 0 });
      else expect(() => run(x8, 8, 'fused')).toThrow(ShapeError);
    } finally {
      x8.release();
      x20.release();
    }
  });
});
