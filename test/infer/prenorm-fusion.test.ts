// A product given its input with the layernorm to apply first (PreNormed: linear, mlpGelu, matmul)
// folds the layernorm into its prologue exactly where a decoding step needs it — no gradient, rows
// the skinny kernel takes — and costs one dispatch less there, with the bits of layernorm followed
// by the product; with more rows, or under a tape that needs a gradient on the skinny kernel, the
// layernorm runs on its own (under a tape, the subgroup kernel's rows fold it in:
// test/tensor/layernorm-fusion.test.ts). kvcache.test.ts holds whole decodes to the same bits;
// this holds the dispatch counts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { layerNorm } from '../../src/tensor/ops/layernorm.ts';
import { linear, matmul, mlpGelu } from '../../src/tensor/ops/linear.ts';
import type { ProductInput } from '../../src/tensor/ops/prenorm.ts';
import { Tape, noGrad, withTape } from '../../src/tensor/tape.ts';
import { Tensor } from '../../src/tensor/tensor.ts';
import { counted } from '../helpers/dispatches.ts';
import { testGpu } from '../helpers/gpu.ts';
import { testRng } from '../helpers/seed.ts';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.pool.trim());

// At one row every product is past 16³ FMAs, below which the heuristic picks the naive kernel
// (and nothing fuses); K fits one register row, N is off the skinny kernel's 4 columns.
const K = 40;
const [OUT, HID] = [110, 103];

function params(salt: number, rows: number) {
  const rng = testRng(salt);
  const t = (shape: number[], name: string) => Tensor.fromArray(gpu, rng.floats(shape.reduce((a, b) => a * b, 1)), shape, name);
  // Rows off zero mean and unit spread, so the normalisation changes them.
  const x = Tensor.fromArray(gpu, rng.floats(rows * K).map((v, i) => 2 + 3 * v + (i % 5)), [rows, K], 'x');
  return { x, gamma: t([K], 'gamma'), beta: t([K], 'beta'), w: t([OUT, K], 'w'), b: t([OUT], 'b'), w1: t([HID, K], 'w1'), b1: t([HID], 'b1'), w2: t([OUT, HID], 'w2'), b2: t([OUT], 'b2'), proj: t([K, OUT], 'proj'), res: t([rows, OUT], 'res') };
}

type Params = ReturnType<typeof params>;
/** The three products of a pre-norm block, each given `inp` (the PreNormed x, or x already normalised). */
const products: [string, (p: Params, inp: ProductInput) => Tensor][] = [
  ['linear (+ residual)', (p, inp) => linear(inp, p.w, p.b, p.res)],
  ['mlpGelu', (p, inp) => mlpGelu(inp, p.w1, p.b1, p.w2, p.b2)],
  ['matmul (vocabulary projection)', (p, inp) => matmul(inp, p.proj)],
];

describe('a product with its layernorm', () => {
  for (const [name, run] of products) {
    it(`${name}: fused for 1 and 5 rows without a gradient on a software adapter (one dispatch less, the same bits), apart for 9 rows`, async () => {
      for (const [i, rows] of [1, 5, 9].entries()) {
        const p = params(100 + i, rows);
        const fused = await counted(gpu, () => noGrad(() => run(p, { x: p.x, norm: { weight: p.gamma, bias: p.beta } })));
        const apart = await counted(gpu, () =>
          noGrad(() => {
            const h = layerNorm(p.x, p.gamma, p.beta);
            const y = run(p, h);
            h.release();
            return y;
          }),
        );
        for (const t of Object.values(p)) t.release();
        expect(fused.values.every(Number.isFinite), `${rows} rows: finite`).toBe(true);
        expect(Array.from(fused.values), `${rows} rows: bits`).toEqual(Array.from(apart.values));
        // Real GPUs do not run skinny yet (unmeasured there: matmul.test.ts), so nothing fuses on them.
        const fuses = gpu.software && rows <= 8;
        expect(fused.dispatches, `${rows} rows: dispatches`).toBe(apart.dispatches - (fuses ? 1 : 0));
      }
    });
  }

  it('runs layernorm on its own under a tape that needs a gradient, and differentiates through it', async () => {
    const p = params(110, 2);
    const gamma = Tensor.fromArray(gpu, await p.gamma.toArray(), [K], 'gamma', true);
    const tape = new Tape();
    const before = gpu.counters.dispatches;
    const y = withTape(tape, () => linear({ x: p.x, norm: { weight: gamma, bias: p.beta } }, p.w, p.b));
    // layernorm and the product: 2 rows run on skinny, whose prologue writes nothing for a backward.
    expect(gpu.counters.dispatches - before).toBe(2);
    const seed = Tensor.fromArray(gpu, new Float32Array(y.size).fill(1), y.shape, 'seed');
    tape.backward(y, seed);
    expect(gamma.grad, 'dγ').not.toBeNull();
    expect((await gamma.grad!.toArray()).some((v) => v !== 0)).toBe(true);
    tape.dispose();
    for (const t of [...Object.values(p), gamma, gamma.grad!, seed]) t.release();
  });
});
