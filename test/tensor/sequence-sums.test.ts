// The sequence ops' broadcast gradients deferred into the tape's one column-sum fold (grad.ts
// addColumnSums with the tape's DeferredColumnSums): a position table added inside the
// concatenation's copies (concatSeq's positions), a CLS token taken as the 1-D parameter itself,
// a table read through a narrowRows view of all of it, and a pooler's queries copied over the
// batch (expandBatch). Held here: forward and every gradient bit for bit with deferColumnSums off
// (each sum its own reduction) and with the old op order (concatSeq, then addBroadcastRow); the
// dispatches each saves; the gradients against float64 sums over the batch; a parameter used
// twice sums both uses.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { ParamStore } from '../../src/nn/params.ts';
import { addBroadcastRow, concatSeq } from '../../src/tensor/ops/sequence.ts';
import { expandBatch, narrowRows } from '../../src/tensor/ops/shape.ts';
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

// Batch, patches, width, a text of L tokens, the pooler's queries: primes and 1.
const [B, P, C, L, Q] = [5, 7, 11, 3, 1];

const spec = (name: string, shape: number[]) => ({ name, shape, decay: false, init: { kind: 'normal' as const, std: 0.5 } });

/** The three sequence builders of the model, on one ParamStore; `fused`: positions in concatSeq. */
function build(ps: ParamStore, xs: { patches: Tensor; tokens: Tensor }, fused: boolean): Tensor[] {
  const image = fused
    ? concatSeq([ps.get('cls'), xs.patches], undefined, ps.get('pos'))
    : addBroadcastRow(concatSeq([ps.get('cls'), xs.patches]), ps.get('pos'));
  const textPos = narrowRows(ps.get('text_pos'), 0, L + 1);
  const text = fused ? concatSeq([xs.tokens, ps.get('cls')], undefined, textPos) : addBroadcastRow(concatSeq([xs.tokens, ps.get('cls')]), textPos);
  return [image, text, expandBatch(ps.get('query'), B)];
}

async function run(opts: { defer: boolean; fused: boolean }) {
  const rng = testRng(61);
  const ps = ParamStore.create(gpu, [spec('cls', [C]), spec('pos', [P + 1, C]), spec('text_pos', [L + 1, C]), spec('query', [Q, C])], new Rng(61));
  const patches = Tensor.fromArray(gpu, rng.floats(B * P * C), [B, P, C], 'patches', true);
  const tokens = Tensor.fromArray(gpu, rng.floats(B * L * C), [B, L, C], 'tokens', true);
  const tape = new Tape({ deferColumnSums: opts.defer });
  const d0 = gpu.counters.dispatches;
  const outs = withTape(tape, () => build(ps, { patches, tokens }, opts.fused));
  const forward = gpu.counters.dispatches - d0;
  const seeds = outs.map((o) => Tensor.fromArray(gpu, rng.floats(o.size), o.shape, 'seed'));
  for (const o of outs) tape.keep(o);
  const d1 = gpu.counters.dispatches;
  tape.backwardFrom(outs.map((o, i) => [o, seeds[i]!] as [Tensor, Tensor]));
  const backward = gpu.counters.dispatches - d1;
  const values = await Promise.all(outs.map(async (o) => Array.from(await o.toArray())));
  const grads: Record<string, Float32Array> = {};
  for (const [name, info] of ps.params) grads[name] = await info.tensor.grad!.toArray();
  grads.patches = await patches.grad!.toArray();
  grads.tokens = await tokens.grad!.toArray();
  const dy = await Promise.all(seeds.map((s) => s.toArray()));
  tape.dispose();
  for (const t of [...outs, patches, tokens]) {
    t.grad?.release();
    t.grad = null;
    t.release();
  }
  ps.release();
  return { values, grads, forward, backward, dy };
}

const bits = (g: Record<string, Float32Array>) => Object.fromEntries(Object.entries(g).map(([k, v]) => [k, Array.from(v)]));

describe('broadcast gradients of the sequence ops, deferred into the tape’s fold', () => {
  it('forward and gradients are the bits of each sum on its own and of concatSeq then addBroadcastRow', async () => {
    const now = await run({ defer: true, fused: true });
    const apart = await run({ defer: false, fused: true });
    const before = await run({ defer: false, fused: false });
    expect(now.values.flat().every(Number.isFinite), 'finite').toBe(true);
    expect(now.values, 'outputs').toEqual(apart.values);
    expect(now.values, 'outputs, the old op order').toEqual(before.values);
    expect(bits(now.grads), 'gradients').toEqual(bits(apart.grads));
    expect(bits(now.grads), 'gradients, the old op order').toEqual(bits(before.grads));
  });

  it('costs one fold where each sum was a reduction, and no position add of its own', async () => {
    const now = await run({ defer: true, fused: true });
    const apart = await run({ defer: false, fused: true });
    const before = await run({ defer: false, fused: false });
    // Forward: 2 + 2 copies and the query's copy; the old order adds the table in 2 passes more.
    expect(now.forward).toBe(5);
    expect(before.forward).toBe(7);
    // Backward: the two non-broadcast parts' copies, and the fold (deferred; twice, since the
    // CLS token's second use folds its first before queuing again) or a reduction per sum (the
    // two tables, the query, the CLS token twice) and the add of its second (two passes at 11
    // columns: 8 as vec4s, 3 alone): 7.
    expect(now.backward).toBe(4);
    expect(apart.backward).toBe(9);
    expect(before.backward).toBeGreaterThanOrEqual(apart.backward);
  });

  it('gives float64 sums over the batch, the CLS token both of its uses', async () => {
    const { grads, dy } = await run({ defer: true, fused: true });
    const [dImage, dText, dQuery] = dy as [Float32Array, Float32Array, Float32Array];
    const colsum = (d: Float32Array, L1: number, from: number, rows: number) => {
      const out = new Float64Array(rows * C);
      for (let b = 0; b < B; b++) for (let i = 0; i < rows * C; i++) out[i] += d[b * L1 * C + from * C + i]!;
      return out;
    };
    const tol = { atol: 1e-6, rtol: 1e-6 };
    expectClose(grads.pos!, colsum(dImage, P + 1, 0, P + 1), tol, 'd pos');
    expectClose(grads.text_pos!, colsum(dText, L + 1, 0, L + 1), tol, 'd text pos');
    expectClose(grads.query!, colsum(dQuery, Q, 0, Q), tol, 'd query');
    const cls = colsum(dImage, P + 1, 0, 1).map((v, c) => v + colsum(dText, L + 1, L, 1)[c]!);
    expectClose(grads.cls!, cls, tol, 'd cls (both concatenations)');
    // The non-broadcast parts: their blocks of dy, copied.
    const patches = new Float64Array(B * P * C);
    for (let b = 0; b < B; b++) for (let i = 0; i < P * C; i++) patches[b * P * C + i] = dImage[b * (P + 1) * C + C + i]!;
    expectClose(grads.patches!, patches, { atol: 0, rtol: 0 }, 'd patches');
  });
});
