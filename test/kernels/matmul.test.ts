// The matmul family against its float64 reference: every variant × layout × awkward shape,
// batched and broadcast, with bias, alpha and accumulation; outputs poisoned with NaN first.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { MATMUL_VARIANTS, adapterClass, chooseMatmulVariant, matmul, matmulFusesRowSum, matmulSplits, matmulVariantAvailable, type MatmulVariant } from '../../kernels/matmul.ts';
import { matmulBackwardRef, matmulRef, matmulTolerance, rowSumsRef } from '../../kernels/matmul.ref.ts';
import { geluBackwardRef, geluRef } from '../../kernels/pointwise.ref.ts';
import { expectClose } from '../helpers/close.ts';
import { poisoned, testGpu } from '../helpers/gpu.ts';
import { testRng } from '../helpers/seed.ts';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.pool.trim());

type Layout = 'NN' | 'NT' | 'TN';
// [batch, M, N, K]: 1s, primes, sizes just past every tile edge (16, 32, 64), and a batch.
const SHAPES: [number, number, number, number][] = [
  [1, 1, 1, 1],
  [1, 1, 67, 5],
  [1, 37, 1, 13],
  [3, 33, 17, 7],
  [2, 65, 129, 31],
  [1, 70, 3, 67],
];

interface Case {
  variant: MatmulVariant;
  layout: Layout;
  shape: [number, number, number, number];
  bias?: boolean;
  accumulate?: boolean;
  alpha?: number;
  broadcastA?: boolean;
  /** splitk's slices of K (the family's cases run it with 3, capped by K). */
  splits?: number;
}

async function runCase(c: Case, salt: number): Promise<void> {
  const rng = testRng(salt);
  const [batch, M, N, K] = c.shape;
  const transA = c.layout === 'TN';
  const transB = c.layout === 'NT';
  const batchA = c.broadcastA ? 1 : batch;
  const a = rng.floats(batchA * M * K);
  const b = rng.floats(batch * K * N);
  const bias = c.bias ? rng.floats(N) : undefined;
  const c0 = c.accumulate ? rng.floats(batch * M * N) : undefined;
  const A = gpu.upload(a, 'A');
  const B = gpu.upload(b, 'B');
  const Bias = bias ? gpu.upload(bias, 'bias') : undefined;
  const C = c0 ? gpu.upload(c0, 'C') : poisoned(gpu, batch * M * N, 'C');
  const shapeA = transA ? [K, M] : [M, K];
  matmul(gpu, {
    a: { buffer: A, shape: c.broadcastA ? shapeA : [batch, ...shapeA] },
    b: { buffer: B, shape: [batch, ...(transB ? [N, K] : [K, N])] },
    c: { buffer: C, shape: [batch, M, N] },
    bias: Bias ? { buffer: Bias } : undefined,
    transA,
    transB,
    alpha: c.alpha,
    accumulate: c.accumulate,
    variant: c.variant,
    splits: c.splits ?? (c.variant === 'splitk' ? 3 : undefined),
  });
  const got = await gpu.read(C, batch * M * N);
  const want = matmulRef(a, b, { M, N, K, batch, transA, transB, strideA: c.broadcastA ? 0 : M * K }, { alpha: c.alpha, bias, accumulate: c0 });
  for (const buf of [A, B, C, Bias]) if (buf) gpu.release(buf);
  expectClose(got, want, matmulTolerance(K), `${c.variant} ${c.layout} [${c.shape}]`);
}

/**
 * True where the adapter cannot run `variant`, asserting the only reason allowed: it is the
 * subgroup variant, and no fixed subgroup size divides its 32-row tile.
 */
function unavailable(variant: MatmulVariant): boolean {
  if (matmulVariantAvailable(gpu, variant)) return false;
  expect(variant).toBe('subgroup');
  expect(!gpu.has('subgroups') || gpu.subgroupSize === 0 || 32 % gpu.subgroupSize !== 0, `subgroup size ${gpu.subgroupSize}`).toBe(true);
  return true;
}

describe.each(MATMUL_VARIANTS)('matmul %s', (variant) => {
  it('is available exactly where the adapter allows it', () => {
    // Only the subgroup variant may be missing: on adapters without a fixed subgroup size that
    // divides its 32-row tile (lavapipe has size 8, so CI runs it).
    const allowed = variant !== 'subgroup' || (gpu.subgroupSize > 0 && 32 % gpu.subgroupSize === 0);
    expect(matmulVariantAvailable(gpu, variant)).toBe(allowed);
  });

  for (const layout of ['NN', 'NT', 'TN'] as const) {
    it(`${layout} at awkward shapes and batches`, async () => {
      if (unavailable(variant)) return;
      for (let i = 0; i < SHAPES.length; i++) await runCase({ variant, layout, shape: SHAPES[i]! }, i);
    });
  }

  it('adds bias, scales by alpha, accumulates into C, broadcasts A over the batch', async () => {
    if (unavailable(variant)) return;
    await runCase({ variant, layout: 'NN', shape: [2, 19, 23, 11], bias: true, alpha: 0.37 }, 10);
    await runCase({ variant, layout: 'NT', shape: [1, 41, 9, 17], accumulate: true, bias: true }, 11);
    await runCase({ variant, layout: 'TN', shape: [3, 5, 31, 29], broadcastA: true, accumulate: true }, 12);
  });
});

// tiled128 (shaders/matmul_tiled128.wgsl) at shapes its tile makes awkward beyond the family's:
// just past 128 in M and N, K off its 8-deep slice, one row, one column, a batch.
const TILE128_EDGES: [number, number, number, number][] = [
  [1, 129, 131, 19],
  [2, 131, 257, 9],
  [1, 1, 129, 8],
  [1, 257, 3, 1],
];

describe('matmul tiled128 past its 128x128 tile', () => {
  for (const layout of ['NN', 'NT', 'TN'] as const) {
    it(`${layout} past the tile edges, K off the slice, with bias and alpha`, async () => {
      for (let i = 0; i < TILE128_EDGES.length; i++) await runCase({ variant: 'tiled128', layout, shape: TILE128_EDGES[i]!, bias: i % 2 === 1, alpha: 0.75 }, 30 + i);
    });
  }
});

// tiled64: the same kernel on a 64x64 tile of 8x8 invocations (8 tile loads each per K slice
// instead of 4), just past its edges.
const TILE64_EDGES: [number, number, number, number][] = [
  [1, 65, 67, 19],
  [2, 67, 129, 9],
  [1, 1, 65, 8],
  [1, 129, 3, 1],
];

describe('matmul tiled64 past its 64x64 tile', () => {
  for (const layout of ['NN', 'NT', 'TN'] as const) {
    it(`${layout} past the tile edges, K off the slice, with bias and alpha`, async () => {
      for (let i = 0; i < TILE64_EDGES.length; i++) await runCase({ variant: 'tiled64', layout, shape: TILE64_EDGES[i]!, bias: i % 2 === 0, alpha: 0.75 }, 40 + i);
    });
  }
});

// splitk: slices of K summed in a second pass that applies the epilogue. Slice counts that do
// and do not divide K, a slice shorter than the kernel's 8-deep step, many slices over a batch
// with A broadcast, and the count matmulSplits picks by itself.
describe('matmul splitk over slices of K', () => {
  const CASES: (Pick<Case, 'shape' | 'splits' | 'bias' | 'accumulate' | 'alpha' | 'broadcastA'>)[] = [
    { shape: [1, 5, 7, 300], splits: 7, bias: true },
    { shape: [2, 65, 66, 129], splits: 4, accumulate: true, alpha: 0.5 },
    { shape: [3, 1, 1, 1000], splits: 16, broadcastA: true, bias: true, accumulate: true },
    { shape: [1, 3, 70, 9], splits: 2, alpha: -1.5 },
    { shape: [1, 3, 5, 2000] },
  ];
  for (const layout of ['NN', 'NT', 'TN'] as const) {
    it(`${layout}: every slicing matches float64`, async () => {
      for (const [i, c] of CASES.entries()) await runCase({ variant: 'splitk', layout, ...c }, 70 + i);
    });
  }

  it('slices K in steps of 8, never more slices than the output leaves room for, and fills the device by itself', () => {
    expect(matmulSplits(gpu, 5, 7, 300, 1, 7)).toEqual({ splits: 7, kSlice: 48 });
    expect(matmulSplits(gpu, 3, 70, 9, 1, 2)).toEqual({ splits: 2, kSlice: 8 });
    expect(matmulSplits(gpu, 1, 1, 5, 1, 4)).toEqual({ splits: 1, kSlice: 8 });
    // Unasked: tiles × slices reach the device's fill, each slice at least 256 long.
    const fill = { software: 16, integrated: 32, discrete: 256 }[adapterClass(gpu)];
    expect(matmulSplits(gpu, 3, 5, 2000).splits).toBe(Math.min(fill, 7));
    expect(matmulSplits(gpu, 3, 5, 200).splits).toBe(1);
    expect(matmulSplits(gpu, 4096, 4096, 4096).splits).toBe(1);
  });

  it('refuses splits on other variants and a bad count, in one line', () => {
    const [A, B, C] = [gpu.alloc(16, 'A'), gpu.alloc(16, 'B'), gpu.alloc(16, 'C')];
    const call = { a: { buffer: A, shape: [4, 4] }, b: { buffer: B, shape: [4, 4] }, c: { buffer: C, shape: [4, 4] } };
    expect(() => matmul(gpu, { ...call, variant: 'tiled64', splits: 2 })).toThrow(/splits is an option of the splitk variant, not tiled64/);
    expect(() => matmul(gpu, { ...call, variant: 'splitk', splits: 0 })).toThrow(/splits must be a positive integer/);
    for (const buf of [A, B, C]) gpu.release(buf);
  });
});

// skinny (matmul_skinny) sizes its row block to M: 1, 2, 4 or 8 rows, a different pipeline each.
// Every block size, with M just past a power of two, N past its 256-column workgroup and off its
// 4 columns, and the decoding shapes it is chosen for (one image or a beam over a wide output).
const SKINNY_SHAPES: [number, number, number, number][] = [
  [1, 2, 257, 3],
  [2, 3, 259, 17],
  [1, 5, 6, 41],
  [1, 8, 513, 2],
  [3, 9, 7, 5],
  [1, 6, 1031, 64],
];

describe('matmul skinny at every row block', () => {
  for (const layout of ['NN', 'NT', 'TN'] as const) {
    it(`${layout} for M = 2..9, N off its columns, with bias and alpha`, async () => {
      for (let i = 0; i < SKINNY_SHAPES.length; i++) await runCase({ variant: 'skinny', layout, shape: SKINNY_SHAPES[i]!, bias: i % 2 === 0, alpha: 1.25 }, 50 + i);
    });
  }

  it('is what a software adapter runs for a decoding step, and nothing wider; a GPU keeps its own choice', () => {
    // Real GPUs are unmeasured for skinny: their heuristic must not pick it yet.
    for (const M of [1, 3, 6, 8]) {
      const v = chooseMatmulVariant(gpu, M, 49408, 512);
      if (gpu.software) expect(v, `M = ${M}`).toBe('skinny');
      else expect(v, `M = ${M} on ${gpu.adapter.description}`).not.toBe('skinny');
    }
    expect(chooseMatmulVariant(gpu, 9, 49408, 512)).not.toBe('skinny');
  });
});

describe('matmul backward (NT and TN products)', () => {
  it('dA = dC·Bᵀ and dB = Aᵀ·dC match the float64 reference', async () => {
    const rng = testRng(20);
    const [M, N, K] = [23, 11, 37];
    const a = rng.floats(M * K);
    const b = rng.floats(K * N);
    const dc = rng.floats(M * N);
    const ref = matmulBackwardRef(a, b, dc, { M, N, K, transA: false, transB: false });
    const [A, B, dC] = [gpu.upload(a, 'A'), gpu.upload(b, 'B'), gpu.upload(dc, 'dC')];
    const dA = poisoned(gpu, M * K, 'dA');
    const dB = poisoned(gpu, K * N, 'dB');
    matmul(gpu, { a: { buffer: dC, shape: [M, N] }, b: { buffer: B, shape: [K, N] }, c: { buffer: dA, shape: [M, K] }, transB: true });
    matmul(gpu, { a: { buffer: A, shape: [M, K] }, b: { buffer: dC, shape: [M, N] }, c: { buffer: dB, shape: [K, N] }, transA: true });
    expectClose(await gpu.read(dA, M * K), ref.da, matmulTolerance(N), 'dA');
    expectClose(await gpu.read(dB, K * N), ref.db, matmulTolerance(M), 'dB');
    for (const buf of [A, B, dC, dA, dB]) gpu.release(buf);
  });
});

describe('matmul with the row sums of op(A) fused (the bias gradient beside dW)', () => {
  // [M, N, K]: 1s, primes, M past the 32-row tile, N past one workgroup's 128 columns (so several
  // workgroups sum the same rows and only one may write), K long as a batch of tokens.
  const CASES: [number, number, number][] = [
    [1, 1, 1],
    [7, 3, 5],
    [33, 129, 17],
    [67, 200, 251],
    [128, 131, 2080],
  ];
  it.each(['NN', 'TN'] as const)('%s: C and the row sums match float64, fresh and accumulated', async (layout) => {
    if (unavailable('subgroup')) return;
    const transA = layout === 'TN';
    for (const [i, [M, N, K]] of CASES.entries()) {
      for (const acc of [false, true]) {
        const rng = testRng(40 + 2 * i + (acc ? 1 : 0));
        const a = rng.floats(M * K);
        const b = rng.floats(K * N);
        const c0 = acc ? rng.floats(M * N) : undefined;
        const r0 = acc ? rng.floats(M) : undefined;
        const [A, B] = [gpu.upload(a, 'A'), gpu.upload(b, 'B')];
        // C's buffer, NaN-filled, holds C at 0 and the row sums from M·N + 3, as an arena holds
        // dW and db: only those two ranges may be written.
        const at = M * N + 3;
        const C = poisoned(gpu, at + M + 2, 'C');
        if (c0) gpu.write(C, c0);
        if (r0) gpu.write(C, r0, at * 4);
        matmul(gpu, { a: { buffer: A, shape: transA ? [K, M] : [M, K] }, b: { buffer: B, shape: [K, N] }, c: { buffer: C, shape: [M, N] }, transA, accumulate: acc, rowSumA: { offset: at, accumulate: acc }, variant: 'subgroup' });
        const what = `${layout} ${M}x${N}x${K}${acc ? ' accumulated' : ''}`;
        const all = await gpu.read(C, at + M + 2);
        expectClose(all.subarray(0, M * N), matmulRef(a, b, { M, N, K, batch: 1, transA, transB: false, strideA: M * K }, { accumulate: c0 }), matmulTolerance(K), `${what}: C`);
        expectClose(all.subarray(at, at + M), rowSumsRef(a, M, K, transA, r0), matmulTolerance(K), `${what}: row sums`);
        for (const j of [M * N, M * N + 1, M * N + 2, at + M, at + M + 1]) expect(Number.isNaN(all[j]!), `${what}: float ${j} outside C and the row sums is left alone`).toBe(true);
        for (const buf of [A, B, C]) gpu.release(buf);
      }
    }
  });

  it('is offered only where the subgroup variant runs, and refused elsewhere in one line', () => {
    expect(matmulFusesRowSum(gpu, 64, 64, 64)).toBe(chooseMatmulVariant(gpu, 64, 64, 64) === 'subgroup');
    const [A, B, C, R] = [gpu.alloc(64, 'A'), gpu.alloc(64, 'B'), gpu.alloc(64, 'C'), gpu.alloc(8, 'R')];
    const call = { a: { buffer: A, shape: [4, 4] }, b: { buffer: B, shape: [4, 4] }, c: { buffer: C, shape: [4, 4] }, rowSumA: { offset: 16 } };
    expect(() => matmul(gpu, { ...call, variant: 'naive' })).toThrow(/rowSumA needs the subgroup variant/);
    expect(() => matmul(gpu, { ...call, bias: { buffer: R } })).toThrow(/rowSumA cannot be combined with bias/);
    expect(() => matmul(gpu, { ...call, rowSumA: { offset: 14 } })).toThrow(/row sums \[14, 18\) overlap C \[0, 16\)/);
    for (const buf of [A, B, C, R]) gpu.release(buf);
  });
});

describe.each(MATMUL_VARIANTS)('matmul %s with a GELU epilogue', (variant) => {
  // [batch, M, N, K]: 1s, primes, past the tile edges, a batch; bias and alpha on.
  const CASES: [number, number, number, number][] = [
    [1, 1, 1, 1],
    [1, 37, 67, 13],
    [2, 33, 129, 31],
  ];
  it.each(['apply', 'grad'] as const)('%s: C and the pre-activation match float64', async (mode) => {
    if (unavailable(variant)) return;
    for (const [i, [batch, M, N, K]] of CASES.entries()) {
      const rng = testRng(60 + i + (mode === 'grad' ? 10 : 0));
      const a = rng.floats(batch * M * K);
      const b = rng.floats(K * N, -0.5, 0.5);
      const bias = rng.floats(N);
      const alpha = 0.9;
      const n = batch * M * N;
      const h = mode === 'grad' ? rng.floats(n, -3, 3) : undefined;
      const [A, B, Bias] = [gpu.upload(a, 'A'), gpu.upload(b, 'B'), gpu.upload(bias, 'bias')];
      const C = poisoned(gpu, n, 'C');
      // The pre-activation at an offset, NaN around it.
      const P = poisoned(gpu, n + 7, 'preact');
      if (h) gpu.write(P, h, 5 * 4);
      const splits = variant === 'splitk' ? 3 : undefined;
      matmul(gpu, { a: { buffer: A, shape: [batch, M, K] }, b: { buffer: B, shape: [K, N] }, c: { buffer: C, shape: [batch, M, N] }, bias: { buffer: Bias }, alpha, gelu: { mode, preact: { buffer: P, offset: 5 } }, variant, splits });
      const v = matmulRef(a, b, { M, N, K, batch, transA: false, transB: false, strideA: M * K, strideB: 0 }, { alpha, bias });
      const what = `${variant} ${mode} [${batch}, ${M}, ${N}, ${K}]`;
      const tol = matmulTolerance(K);
      const got = await gpu.read(C, n);
      const pre = await gpu.read(P, n + 7);
      if (mode === 'apply') {
        expectClose(got, geluRef(v), { atol: 1.2 * tol.atol, rtol: tol.rtol }, `${what}: C = gelu(v)`);
        expectClose(pre.subarray(5, 5 + n), v, tol, `${what}: pre-activation`);
      } else {
        expectClose(got, geluBackwardRef(h!, v), { atol: 1.2 * tol.atol, rtol: tol.rtol }, `${what}: C = v·gelu'(h)`);
      }
      for (const j of [0, 4, n + 5, n + 6]) expect(Number.isNaN(pre[j]!), `${what}: float ${j} around the pre-activation is left alone`).toBe(true);
      for (const buf of [A, B, Bias, C, P]) gpu.release(buf);
    }
  });
});

describe('matmul GELU epilogue bad input', () => {
  it('refuses to accumulate, and a pre-activation in the output buffer, in one line', () => {
    const [A, B, C, P] = [gpu.alloc(64, 'A'), gpu.alloc(64, 'B'), gpu.alloc(64, 'C'), gpu.alloc(64, 'P')];
    const call = { a: { buffer: A, shape: [4, 4] }, b: { buffer: B, shape: [4, 4] }, c: { buffer: C, shape: [4, 4] } };
    expect(() => matmul(gpu, { ...call, accumulate: true, gelu: { mode: 'apply', preact: { buffer: P } } })).toThrow(/GELU epilogue cannot accumulate/);
    expect(() => matmul(gpu, { ...call, gelu: { mode: 'apply', preact: { buffer: C, offset: 16 } } })).toThrow(/pre-activation must not share a buffer with C/);
    expect(() => matmul(gpu, { ...call, gelu: { mode: 'grad', preact: { buffer: P, offset: 60 } } })).toThrow(/pre-activation .* needs 16 floats from offset 60/);
    for (const buf of [A, B, C, P]) gpu.release(buf);
  });
});

describe('matmul heuristic', () => {
  it('picks an available variant for every shape', () => {
    for (const [M, N, K] of [[1, 1, 1], [1, 512, 512], [512, 512, 512], [4096, 64, 64]] as const) {
      expect(matmulVariantAvailable(gpu, chooseMatmulVariant(gpu, M, N, K))).toBe(true);
    }
  });

  // Real GPUs by class, on a stand-in device (no hardware here): the tile that still gives the
  // device enough workgroups, split-K for thin products with a long K, nothing tiled for tiny ones.
  const device = (vendor: string) =>
    ({ software: false, adapter: { vendor }, subgroupSize: 32, setting: () => undefined, limits: gpu.limits }) as unknown as Gpu;
  it('on a discrete GPU: tiled128 where its tiles fill the device, tiled64 below, splitk for a long K', () => {
    const nv = device('nvidia');
    expect(adapterClass(nv)).toBe('discrete');
    expect(chooseMatmulVariant(nv, 4096, 4096, 4096)).toBe('tiled128');
    expect(chooseMatmulVariant(nv, 2048, 2048, 512)).toBe('tiled128'); // 256 tiles of 128
    expect(chooseMatmulVariant(nv, 1024, 1024, 1024)).toBe('tiled64'); // 64 tiles of 128: too few
    expect(chooseMatmulVariant(nv, 256, 256, 8192)).toBe('splitk'); // dW over 8192 tokens: 16 tiles
    expect(chooseMatmulVariant(nv, 256, 256, 512)).toBe('tiled64'); // K too short to slice
    expect(chooseMatmulVariant(nv, 4, 4, 64)).toBe('naive');
    expect(matmulSplits(nv, 256, 256, 8192).splits).toBe(16); // 16 tiles × 16 slices = the fill, 512 long each
  });
  it('on an integrated GPU a smaller device is filled sooner', () => {
    const apple = device('apple');
    expect(adapterClass(apple)).toBe('integrated');
    expect(chooseMatmulVariant(apple, 1024, 1024, 1024)).toBe('tiled128'); // 64 tiles ≥ 16
    expect(chooseMatmulVariant(apple, 128, 128, 4096)).toBe('splitk'); // 4 tiles < 8
    expect(chooseMatmulVariant(apple, 256, 256, 8192)).toBe('tiled64'); // 16 tiles: enough
  });
});

describe('matmul bad input', () => {
  const shapes = (aShape: number[], bShape: number[], cShape: number[], extra: { transB?: boolean } = {}) => () => {
    const A = gpu.alloc(64, 'A');
    const B = gpu.alloc(64, 'B');
    const C = gpu.alloc(64, 'C');
    try {
      matmul(gpu, { a: { buffer: A, shape: aShape }, b: { buffer: B, shape: bShape }, c: { buffer: C, shape: cShape }, ...extra });
    } finally {
      for (const buf of [A, B, C]) gpu.release(buf);
    }
  };
  it('names both shapes when inner dimensions differ', () => {
    expect(shapes([2, 3], [4, 5], [2, 5])).toThrow(/A \[2, 3\] · B \[4, 5\]: inner dimensions 3 and 4 differ/);
    expect(shapes([2, 3], [4, 5], [2, 4], { transB: true })).toThrow(/inner dimensions 3 and 5 differ/);
  });
  it('names the output shape when it does not fit', () => {
    expect(shapes([2, 3], [3, 5], [5, 2])).toThrow(/is 2x5 but C \[5, 2\] is 5x2/);
  });
  it('rejects a zero-size dimension', () => {
    expect(shapes([0, 3], [3, 5], [0, 5])).toThrow(/A has shape \[0, 3\]; every dimension must be a positive integer/);
  });
  it('rejects a buffer smaller than its shape', () => {
    expect(shapes([8, 9], [9, 5], [8, 5])).toThrow(/A \[8, 9\] needs 72 floats from offset 0 but its buffer "A" holds 64/);
  });
  it('rejects an operand over the storage-binding limit, naming it', () => {
    const limit = gpu.limits.maxStorageBufferBindingSize;
    const rows = Math.ceil(limit / 4 / 1024) + 1;
    // A fake buffer object: the check must fire before anything reaches the GPU.
    const big = { size: rows * 1024 * 4 + 4096, label: 'big' } as GPUBuffer;
    const small = gpu.alloc(1024, 'small');
    const out = gpu.alloc(rows, 'out');
    expect(() =>
      matmul(gpu, { a: { buffer: big, shape: [rows, 1024] }, b: { buffer: small, shape: [1024, 1] }, c: { buffer: out, shape: [rows, 1] } }),
    ).toThrow(new RegExp(`A \\[${rows}, 1024\\] spans .* MiB, over the adapter's .* MiB storage-binding limit`));
    gpu.release(small);
    gpu.release(out);
  });
});
