// A pre-norm product under a tape (training) folds its layernorm into the subgroup matmul's
// prologue, which also writes the normalised rows, means and 1/σ the backward reads (Tape option
// fuseLayernorm, on by default; src/tensor/ops/prenorm.ts). Held here: the output and every
// gradient are the bits of the same ops with the fusion off (the layernorm kernel, then the
// product), for linear (+ residual), mlpGelu and the vocabulary matmul, and for nn's transformer
// block with cross-attention (ln_1, ln_1_kv, ln_2); one dispatch less per layernorm; gradients
// against float64 for the linear; and what does not fuse (a batched product, the f16 path's
// absence is prenorm.ts's) runs the layernorm on its own.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { layernormBackwardRef, layernormRef } from '../../kernels/layernorm.ref.ts';
import { matmulLayernormVariant } from '../../kernels/matmul.ts';
import { matmulRef } from '../../kernels/matmul.ref.ts';
import { block } from '../../src/nn/layers.ts';
import { ParamStore } from '../../src/nn/params.ts';
import { linear, matmul, mlpGelu } from '../../src/tensor/ops/linear.ts';
import { Tape, withTape } from '../../src/tensor/tape.ts';
import { Tensor } from '../../src/tensor/tensor.ts';
import { Rng } from '../../src/util/prng.ts';
import { expectClose } from '../helpers/close.ts';
import { testGpu } from '../helpers/gpu.ts';
import { testRng } from '../helpers/seed.ts';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.pool.trim());

// Rows past one 32-row tile and off it, K off the vec4s (one register row), N off the 128-column tile.
const [M, K, OUT, HID] = [37, 29, 41, 67];

function leaf(rng: ReturnType<typeof testRng>, shape: number[], name: string, scale = 1, shift = 0): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return Tensor.fromArray(gpu, rng.floats(n).map((v, i) => shift + scale * v + (shift ? i % 3 : 0)), shape, name, true);
}

function inputs(salt: number) {
  const rng = testRng(salt);
  return {
    x: leaf(rng, [M, K], 'x', 3, 2),
    gamma: leaf(rng, [K], 'gamma'),
    beta: leaf(rng, [K], 'beta'),
    w: leaf(rng, [OUT, K], 'w'),
    b: leaf(rng, [OUT], 'b'),
    res: leaf(rng, [M, OUT], 'res'),
    w1: leaf(rng, [HID, K], 'w1'),
    b1: leaf(rng, [HID], 'b1'),
    w2: leaf(rng, [OUT, HID], 'w2'),
    b2: leaf(rng, [OUT], 'b2'),
    proj: leaf(rng, [K, OUT], 'proj'),
    seed: Tensor.fromArray(gpu, rng.floats(M * OUT), [M, OUT], 'seed'),
  };
}
type Inputs = ReturnType<typeof inputs>;

const products: [string, (p: Inputs) => Tensor][] = [
  ['linear (+ residual)', (p) => linear({ x: p.x, norm: { weight: p.gamma, bias: p.beta } }, p.w, p.b, p.res)],
  ['mlpGelu', (p) => mlpGelu({ x: p.x, norm: { weight: p.gamma, bias: p.beta } }, p.w1, p.b1, p.w2, p.b2)],
  ['matmul (vocabulary projection)', (p) => matmul({ x: p.x, norm: { weight: p.gamma, bias: p.beta } }, p.proj)],
];

/** Forward and backward of `run` under a tape; the output, every leaf's gradient, the forward's dispatches. */
async function step(fuse: boolean, salt: number, run: (p: Inputs) => Tensor) {
  const p = inputs(salt);
  const tape = new Tape({ fuseLayernorm: fuse });
  const before = gpu.counters.dispatches;
  const y = withTape(tape, () => run(p));
  const forward = gpu.counters.dispatches - before;
  tape.keep(y);
  tape.backward(y, p.seed);
  const out = await y.toArray();
  const grads: Record<string, number[] | null> = {};
  for (const [k, t] of Object.entries(p)) grads[k] = t.grad ? Array.from(await t.grad.toArray()) : null;
  tape.dispose();
  y.release();
  for (const t of Object.values(p)) {
    t.grad?.release();
    t.release();
  }
  return { out: Array.from(out), grads, forward, p };
}

describe('layernorm folded into a training product (Tape fuseLayernorm)', () => {
  it('the shapes here run on the subgroup kernel, which takes the layernorm (lavapipe, CI)', () => {
    for (const N of [OUT, HID]) expect(matmulLayernormVariant(gpu, M, N, K), `${M}x${N}x${K}`).toBe('subgroup');
  });

  for (const [name, run] of products) {
    it(`${name}: output and gradients are the unfused path's bits, with one dispatch less`, async () => {
      const fused = await step(true, 300, run);
      const apart = await step(false, 300, run);
      expect(fused.out.every(Number.isFinite), 'finite output').toBe(true);
      expect(fused.out, 'output').toEqual(apart.out);
      for (const k of ['x', 'gamma', 'beta']) {
        expect(fused.grads[k], `d${k} exists`).not.toBeNull();
        expect(fused.grads[k]!.every(Number.isFinite), `d${k} finite`).toBe(true);
      }
      expect(fused.grads, 'every gradient').toEqual(apart.grads);
      expect(fused.forward, 'forward dispatches').toBe(apart.forward - 1);
    });
  }

  it('linear: gradients of x, γ, β, W, b match float64', async () => {
    const r = await step(true, 301, products[0]![1]);
    // The same draws as inputs(301), read back for float64.
    const q = inputs(301);
    const get = async (t: Tensor) => Array.from(await t.toArray());
    const [x, gamma, beta, w, seed] = await Promise.all([get(q.x), get(q.gamma), get(q.beta), get(q.w), get(q.seed)]);
    for (const t of Object.values(q)) t.release();
    const ln = layernormRef(x, gamma, beta, M, K);
    const dW = matmulRef(seed, ln.y, { M: OUT, N: K, K: M, batch: 1, transA: true, transB: false });
    const db = new Float64Array(OUT);
    for (let m = 0; m < M; m++) for (let n = 0; n < OUT; n++) db[n] += seed[m * OUT + n]!;
    const dyn = matmulRef(seed, w, { M, N: K, K: OUT, batch: 1, transA: false, transB: false });
    const want = layernormBackwardRef(x, gamma, ln.mean, ln.rstd, dyn, M, K);
    const tol = { atol: 2e-4, rtol: 2e-4 };
    expectClose(Float32Array.from(r.grads.w!), dW, tol, 'dW');
    expectClose(Float32Array.from(r.grads.b!), db, tol, 'db');
    expectClose(Float32Array.from(r.grads.x!), want.dx, tol, 'dx');
    expectClose(Float32Array.from(r.grads.gamma!), want.dgamma, tol, 'dγ');
    expectClose(Float32Array.from(r.grads.beta!), want.dbeta, tol, 'dβ');
    expectClose(Float32Array.from(r.grads.res!), seed, { atol: 0, rtol: 0 }, 'd residual');
  });

  it('a cross-attention block (ln_1, ln_1_kv, ln_2): the unfused bits, three dispatches less', async () => {
    const [B, T, S, D] = [2, 19, 17, 32];
    const run = async (fuse: boolean) => {
      const rng = testRng(302);
      const pre = 'blk';
      const spec = (name: string, shape: number[]) => ({ name: `${pre}.${name}`, shape, decay: false, init: { kind: 'normal' as const, std: 0.3 } });
      const specs = [
        ...['ln_1', 'ln_1_kv', 'ln_2'].flatMap((ln) => [spec(`${ln}.weight`, [D]), spec(`${ln}.bias`, [D])]),
        spec('attn.in_proj_weight', [3 * D, D]),
        spec('attn.in_proj_bias', [3 * D]),
        spec('attn.out_proj.weight', [D, D]),
        spec('attn.out_proj.bias', [D]),
        spec('mlp.c_fc.weight', [4 * D, D]),
        spec('mlp.c_fc.bias', [4 * D]),
        spec('mlp.c_proj.weight', [D, 4 * D]),
        spec('mlp.c_proj.bias', [D]),
      ];
      // The parameters in an arena, as a model holds them (in_proj's row blocks are views of it).
      const ps = ParamStore.create(gpu, specs, new Rng(302));
      const x = leaf(rng, [B, T, D], 'x', 2, 1);
      const image = leaf(rng, [B, S, D], 'image', 2, -1);
      const seed = Tensor.fromArray(gpu, rng.floats(B * T * D), [B, T, D], 'seed');
      const tape = new Tape({ fuseLayernorm: fuse });
      const before = gpu.counters.dispatches;
      const y = withTape(tape, () => block(ps, pre, x, { heads: 2 }, image));
      const forward = gpu.counters.dispatches - before;
      tape.keep(y);
      tape.backward(y, seed);
      const out = Array.from(await y.toArray());
      const grads: Record<string, number[]> = {};
      for (const [name, t] of [...[...ps.params].map(([n, info]) => [n, info.tensor]), ['x', x], ['image', image]] as [string, Tensor][]) {
        expect(t.grad, `${name} has a gradient`).not.toBeNull();
        grads[name] = Array.from(await t.grad!.toArray());
      }
      tape.dispose();
      for (const t of [y, seed, x, image]) {
        t.grad?.release();
        t.grad = null;
        t.release();
      }
      ps.release();
      return { out, grads, forward };
    };
    const fused = await run(true);
    const apart = await run(false);
    expect(fused.out.every(Number.isFinite), 'finite').toBe(true);
    expect(fused.out, 'output').toEqual(apart.out);
    expect(fused.grads, 'gradients').toEqual(apart.grads);
    expect(fused.forward, 'forward dispatches').toBe(apart.forward - 3);
  });

  it('a batched product keeps the layernorm on its own', async () => {
    const rng = testRng(303);
    const x = leaf(rng, [2, 19, K], 'x', 2, 1);
    const [gamma, beta] = [leaf(rng, [K], 'gamma'), leaf(rng, [K], 'beta')];
    const proj = leaf(rng, [2, K, OUT], 'proj');
    const tape = new Tape();
    const before = gpu.counters.dispatches;
    const y = withTape(tape, () => matmul({ x, norm: { weight: gamma, bias: beta } }, proj));
    expect(gpu.counters.dispatches - before, 'layernorm, then the product').toBe(2);
    expect(y.shape).toEqual([2, 19, OUT]);
    tape.dispose();
    for (const t of [x, gamma, beta, proj]) t.release();
  });
});
