// Without a gradient, a product given its input with the layernorm to apply first folds it into
// the subgroup kernel's prologue too (from 16 rows on a software adapter: a decoding step over a
// batch of captions, or recomputation's prefixes), not only into skinny's (≤ 8 rows,
// prenorm-fusion.test.ts): one dispatch less, the bits of layernorm followed by the product, and
// float64's values. A batched product (3-D operands) keeps its layernorm apart.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { matmulLayernormVariant } from '../../kernels/matmul.ts';
import { layernormRef } from '../../kernels/layernorm.ref.ts';
import { matmulRef, matmulTolerance } from '../../kernels/matmul.ref.ts';
import { layerNorm } from '../../src/tensor/ops/layernorm.ts';
import { linear, matmul, mlpGelu } from '../../src/tensor/ops/linear.ts';
import type { ProductInput } from '../../src/tensor/ops/prenorm.ts';
import { noGrad } from '../../src/tensor/tape.ts';
import { Tensor } from '../../src/tensor/tensor.ts';
import { expectClose } from '../helpers/close.ts';
import { counted } from '../helpers/dispatches.ts';
import { testGpu } from '../helpers/gpu.ts';
import { testRng } from '../helpers/seed.ts';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.pool.trim());

const K = 40;
const [OUT, HID] = [110, 103];

function params(salt: number, rows: number) {
  const rng = testRng(salt);
  const host: Record<string, Float32Array> = {};
  const t = (shape: number[], name: string, data?: Float32Array) => {
    host[name] = data ?? rng.floats(shape.reduce((a, b) => a * b, 1));
    return Tensor.fromArray(gpu, host[name]!, shape, name);
  };
  const x = t([rows, K], 'x', rng.floats(rows * K).map((v, i) => 2 + 3 * v + (i % 5)));
  return { host, t: { x, gamma: t([K], 'gamma'), beta: t([K], 'beta'), w: t([OUT, K], 'w'), b: t([OUT], 'b'), w1: t([HID, K], 'w1'), b1: t([HID], 'b1'), w2: t([OUT, HID], 'w2'), b2: t([OUT], 'b2'), proj: t([K, OUT], 'proj') } };
}

type P = ReturnType<typeof params>['t'];
const products: [string, (p: P, inp: ProductInput) => Tensor][] = [
  ['linear', (p, inp) => linear(inp, p.w, p.b)],
  ['mlpGelu', (p, inp) => mlpGelu(inp, p.w1, p.b1, p.w2, p.b2)],
  ['matmul (vocabulary projection)', (p, inp) => matmul(inp, p.proj)],
];

describe('a product with its layernorm, 16 rows and more, without a gradient', () => {
  for (const [name, run] of products) {
    it(`${name}: fused on the subgroup kernel at 16, 19 and 37 rows (one dispatch less, the same bits)`, async () => {
      for (const [i, rows] of [16, 19, 37].entries()) {
        expect(matmulLayernormVariant(gpu, rows, OUT, K), `${rows} rows: the subgroup kernel takes the layernorm`).toBe(gpu.software ? 'subgroup' : null);
        const { t: p } = params(1970 + i, rows);
        const fused = await counted(gpu, () => noGrad(() => run(p, { x: p.x, norm: { weight: p.gamma, bias: p.beta } })));
        const apart = await counted(gpu, () =>
          noGrad(() => {
            const h = layerNorm(p.x, p.gamma, p.beta);
            const y = run(p, h);
            h.release();
            return y;
          }),
        );
        for (const x of Object.values(p)) x.release();
        expect(fused.values.every(Number.isFinite), `${rows} rows: finite`).toBe(true);
        expect(Array.from(fused.values), `${rows} rows: bits`).toEqual(Array.from(apart.values));
        expect(fused.dispatches, `${rows} rows: dispatches`).toBe(apart.dispatches - (gpu.software ? 1 : 0));
      }
    });
  }

  it('linear at 17 rows matches float64 layernorm-then-product', async () => {
    const rows = 17;
    const { t: p, host } = params(1980, rows);
    const y = noGrad(() => linear({ x: p.x, norm: { weight: p.gamma, bias: p.beta } }, p.w, p.b));
    const got = await y.toArray();
    y.release();
    for (const x of Object.values(p)) x.release();
    const ln = layernormRef(host.x!, host.gamma!, host.beta!, rows, K);
    const want = matmulRef(ln.y, host.w!, { M: rows, N: OUT, K, batch: 1, transA: false, transB: true }, { bias: host.b! });
    const base = matmulTolerance(K);
    expectClose(got, want, { atol: 4 * base.atol, rtol: base.rtol }, 'linear(ln(x))');
  });

  it('a batched product keeps its layernorm apart', async () => {
    const rng = testRng(1990);
    const [Bt, rows] = [2, 17];
    const x = Tensor.fromArray(gpu, rng.floats(Bt * rows * K), [Bt, rows, K], 'x');
    const [gamma, beta] = [Tensor.fromArray(gpu, rng.floats(K), [K], 'gamma'), Tensor.fromArray(gpu, rng.floats(K), [K], 'beta')];
    const b = Tensor.fromArray(gpu, rng.floats(Bt * K * OUT), [Bt, K, OUT], 'b');
    const r = await counted(gpu, () => noGrad(() => matmul({ x, norm: { weight: gamma, bias: beta } }, b)));
    for (const t of [x, gamma, beta, b]) t.release();
    expect(r.values.every(Number.isFinite)).toBe(true);
    expect(r.dispatches, 'layernorm, then the product').toBe(2);
  });
});
