// The embedding family against its float64 reference: gather with and without position
// embeddings, the deterministic scatter-add backward (repeated tokens sum; two runs are bitwise
// equal), accumulation, and bad input. Outputs are poisoned with NaN first.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { buildBackwardIndex, embedding, embeddingBackward, releaseTokenIds, uploadTokenIds, type TokenIds } from '../../kernels/embedding.ts';
import { embeddingBackwardRef, embeddingRef } from '../../kernels/embedding.ref.ts';
import { expectClose } from '../helpers/close.ts';
import { poisoned, testGpu } from '../helpers/gpu.ts';
import { testRng } from '../helpers/seed.ts';
import type { Rng } from '../../src/util/prng.ts';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.pool.trim());

// A gather copies (plus one f32 add with positions: half an ulp); a scatter-add of k float32
// terms of magnitude ≤ 1 is off by at most ~k·2⁻²⁴. Both far below the O(1) error of a wrong row.
const FWD_TOL = { atol: 0, rtol: 1e-7 };
const BWD_TOL = { atol: 1e-6, rtol: 1e-6 };

/** Ids drawn from a few tokens so that most of them repeat. */
function drawIds(rng: Rng, n: number, V: number): number[] {
  const few = Array.from({ length: Math.min(V, 5) }, () => rng.int(V));
  return Array.from({ length: n }, () => (rng.next() < 0.7 ? few[rng.int(few.length)]! : rng.int(V)));
}

// [B, T, V, D]: size 1, D not a multiple of 4 (COLS) or of 64 (the workgroup), primes.
const SHAPES: [number, number, number, number][] = [
  [1, 1, 1, 1],
  [1, 7, 3, 5],
  [3, 13, 31, 67],
  [2, 37, 257, 6],
];

async function roundTrip(B: number, T: number, V: number, D: number, salt: number, withPos: boolean): Promise<void> {
  const rng = testRng(salt);
  const ids = drawIds(rng, B * T, V);
  const table = rng.floats(V * D);
  const maxT = T + 2;
  const pos = rng.floats(maxT * D);
  const dout = rng.floats(B * T * D);
  // With positions, the index is packed beside the ids; without, the launcher builds its own.
  const I = uploadTokenIds(gpu, ids, { shape: [B, T], vocab: withPos ? V : undefined });
  const [Tab, Pos, dOut] = [gpu.upload(table, 'table'), gpu.upload(pos, 'pos'), gpu.upload(dout, 'dout')];
  const out = poisoned(gpu, B * T * D, 'out');
  const dTab = poisoned(gpu, V * D, 'dTable');
  const dPos = poisoned(gpu, maxT * D, 'dPos');
  embedding(gpu, { ids: I, table: { buffer: Tab, shape: [V, D] }, out: { buffer: out, shape: [B, T, D] }, pos: withPos ? { buffer: Pos, shape: [maxT, D] } : undefined });
  embeddingBackward(gpu, {
    ids: I,
    dout: { buffer: dOut, shape: [B, T, D] },
    dTable: { buffer: dTab, shape: [V, D] },
    dPos: withPos ? { buffer: dPos, shape: [maxT, D] } : undefined,
  });
  const what = `[${B}, ${T}] ids, V=${V}, D=${D}${withPos ? ', +pos' : ''}`;
  expectClose(await gpu.read(out, B * T * D), embeddingRef(table, ids, D, withPos ? { table: pos, T } : undefined), FWD_TOL, `forward ${what}`);
  const ref = embeddingBackwardRef(dout, ids, V, D, T);
  expectClose(await gpu.read(dTab, V * D), ref.dTable, BWD_TOL, `dTable ${what}`);
  if (withPos) {
    const got = await gpu.read(dPos, maxT * D);
    expectClose(got.subarray(0, T * D), ref.dPos!, BWD_TOL, `dPos ${what}`);
    // Rows past T belong to no position of this batch: left untouched (still NaN).
    expect(got.subarray(T * D).every(Number.isNaN), 'dPos rows past T untouched').toBe(true);
  }
  releaseTokenIds(gpu, I);
  for (const b of [Tab, Pos, dOut, out, dTab, dPos]) gpu.release(b);
}

describe('embedding', () => {
  it('gathers rows and scatter-adds gradients at awkward shapes', async () => {
    for (let i = 0; i < SHAPES.length; i++) await roundTrip(...SHAPES[i]!, i, false);
  });

  it('adds position embeddings and sums their gradient over the batch', async () => {
    for (let i = 0; i < SHAPES.length; i++) await roundTrip(...SHAPES[i]!, 10 + i, true);
  });

  it('sums repeated tokens; two runs are bitwise equal; accumulate adds only to the rows used', async () => {
    const rng = testRng(20);
    const [N, V, D] = [203, 11, 13];
    const ids = Array.from({ length: N }, (_, n) => (n % 3 === 0 ? 4 : rng.int(V - 1))); // token 10 never occurs
    const dout = rng.floats(N * D, -100, 100); // large terms: a different sum order changes bits
    const base = rng.floats(V * D);
    const I = uploadTokenIds(gpu, ids, { vocab: V });
    const dOut = gpu.upload(dout, 'dout');
    const runs: Float32Array[] = [];
    for (let r = 0; r < 2; r++) {
      const dTab = poisoned(gpu, V * D, 'dTable');
      embeddingBackward(gpu, { ids: I, dout: { buffer: dOut, shape: [N, D] }, dTable: { buffer: dTab, shape: [V, D] } });
      runs.push(await gpu.read(dTab, V * D));
      gpu.release(dTab);
    }
    const ref = embeddingBackwardRef(dout, ids, V, D);
    expectClose(runs[0]!, ref.dTable, { atol: 1e-3, rtol: 1e-5 }, 'dTable with repeats');
    expect(Buffer.from(runs[1]!.buffer).equals(Buffer.from(runs[0]!.buffer)), 'bitwise equal runs').toBe(true);
    expect(runs[0]!.subarray(10 * D, 11 * D).every((x) => x === 0), 'absent token row zeroed').toBe(true);

    const acc = gpu.upload(base, 'dTable');
    const nanRow = new Float32Array(D).fill(NaN);
    gpu.write(acc, nanRow, 10 * D * 4); // an absent row must not even be read
    embeddingBackward(gpu, { ids: I, dout: { buffer: dOut, shape: [N, D] }, dTable: { buffer: acc, shape: [V, D] }, accumulate: true });
    const got = await gpu.read(acc, V * D);
    const want = Float64Array.from(ref.dTable, (x, i) => x + base[i]!);
    expectClose(got.subarray(0, 10 * D), want.subarray(0, 10 * D), { atol: 1e-3, rtol: 1e-5 }, 'accumulated dTable');
    expect(got.subarray(10 * D).every(Number.isNaN), 'absent row untouched by accumulate').toBe(true);
    releaseTokenIds(gpu, I);
    for (const b of [dOut, acc]) gpu.release(b);
  });

  it('builds the backward index as a stable counting sort', () => {
    const { words, index } = buildBackwardIndex(Int32Array.from([3, 1, 3, 0, 1, 3]), 5, 6);
    expect(index).toEqual({ vocab: 5, used: 3, positions: 6, allStarts: 12, usedStarts: 18, usedRows: 22 });
    expect([...words]).toEqual([3, 1, 4, 0, 2, 5, /* all */ 0, 1, 3, 3, 6, 6, /* used */ 0, 1, 3, 6, /* rows */ 0, 1, 3]);
  });
});

describe('embedding bad input', () => {
  let I: TokenIds;
  let buf: GPUBuffer;
  beforeAll(() => {
    I = uploadTokenIds(gpu, [0, 2, 9, 1, 0, 3], { shape: [2, 3] });
    buf = gpu.alloc(256, 'buf');
  });
  afterAll(() => {
    releaseTokenIds(gpu, I);
    gpu.release(buf);
  });
  const fwd = (V: number, D: number, outShape: number[], posShape?: number[]) => () =>
    embedding(gpu, { ids: I, table: { buffer: buf, shape: [V, D] }, out: { buffer: gpu.alloc(256, 'out'), shape: outShape }, pos: posShape ? { buffer: buf, shape: posShape } : undefined });

  it('names the id outside the vocabulary, before dispatch', () => {
    expect(fwd(8, 4, [2, 3, 4])).toThrow(/ids\[0, 2\] = 9 is outside the vocabulary \[0, 8\)/);
    expect(() => embeddingBackward(gpu, { ids: I, dout: { buffer: buf, shape: [2, 3, 4] }, dTable: { buffer: gpu.alloc(64, 'd'), shape: [8, 4] } })).toThrow(
      /ids\[0, 2\] = 9 is outside the vocabulary \[0, 8\)/,
    );
  });
  it('names mismatched shapes', () => {
    expect(fwd(10, 4, [2, 3, 5])).toThrow(/out \[2, 3, 5\] should be \[2, 3, 4\]/);
    expect(fwd(10, 4, [2, 3, 4], [2, 4])).toThrow(/pos \[2, 4\] has 2 positions but the sequences are 3 long/);
    expect(fwd(10, 4, [2, 3, 4], [3, 5])).toThrow(/pos \[3, 5\] should be \[3, 4\]/);
    expect(fwd(100, 4, [2, 3, 4])).toThrow(/table \[100, 4\] needs 400 floats from offset 0 but its buffer "buf" holds 256/);
  });
  it('rejects ids that are not integers or do not fit their shape', () => {
    expect(() => uploadTokenIds(gpu, [1, 2.5])).toThrow(/ids\[1\] = 2.5 is not a 32-bit integer/);
    expect(() => uploadTokenIds(gpu, [1, 2, 3], { shape: [2, 2] })).toThrow(/shape \[2, 2\] holds 4 ids but 3 were given/);
    expect(() => uploadTokenIds(gpu, [1, -2, 3], { vocab: 4 })).toThrow(/ids\[1\] = -2 is outside the vocabulary \[0, 4\)/);
  });
});
