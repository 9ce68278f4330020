// Layernorms' dγ, dβ folded once at the end of a backward pass (Tape option deferColumnSums, on by
// default): the same bits as each layernorm folding its own, for parameters in an arena poisoned
// with NaN, with one pair of parameters used twice (its second use folds at once and the deferred
// sum adds to it), a pair outside any arena (never deferred), and gradients accumulated over two
// backward passes (gradient caching); one dispatch for all the folds, where there were one or two
// per layernorm.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { layerNorm } from '../../src/tensor/ops/layernorm.ts';
import { mul } from '../../src/tensor/ops/pointwise.ts';
import { concatSeq } from '../../src/tensor/ops/sequence.ts';
import { Tape, withTape } from '../../src/tensor/tape.ts';
import { Tensor } from '../../src/tensor/tensor.ts';
import { testGpu } from '../helpers/gpu.ts';
import { testRng } from '../helpers/seed.ts';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.pool.trim());

const C = 13;

interface Run {
  grads: Float32Array[];
  dispatches: number;
  /** Dispatches of the backward passes by kind: column reductions, deferred folds. */
  reductions: number;
  folds: number;
}

/**
 * y = [LN₁(a); LN₂(b); LN₁(c); LN₃(d)] ⊙ w over a batch of 1, LN₁ and LN₂'s γ | β side by side in
 * an arena (NaN elsewhere), LN₃'s in buffers of their own; backward `passes` times without
 * clearing the gradients. Returns every gradient and the dispatches of the backward passes.
 */
async function run(defer: boolean, passes: number): Promise<Run> {
  const rng = testRng(51);
  // Rows: 1, a prime, 300 (past 256 partial rows) and 7.
  const rows = [1, 17, 300, 7];
  const xs = rows.map((r, i) => Tensor.fromArray(gpu, rng.floats(r * C, -2, 2), [1, r, C], `x${i}`, true));
  const ln = [0, 1, 2].map((i) => ({
    weight: Tensor.fromArray(gpu, rng.floats(C, 0.5, 1.5), [C], `ln${i}.weight`, true),
    bias: Tensor.fromArray(gpu, rng.floats(C), [C], `ln${i}.bias`, true),
  }));
  const arena = gpu.upload(new Float32Array(4 * C + 3).fill(NaN), 'grad-arena');
  ln[0]!.weight.gradHome = { buffer: arena, offset: 1 };
  ln[0]!.bias.gradHome = { buffer: arena, offset: 1 + C };
  ln[1]!.weight.gradHome = { buffer: arena, offset: 2 + 2 * C };
  ln[1]!.bias.gradHome = { buffer: arena, offset: 2 + 3 * C };
  const total = rows.reduce((a, b) => a + b, 0);
  const w = Tensor.fromArray(gpu, rng.floats(total * C), [1, total, C], 'w');
  let dispatches = 0;
  let reductions = 0;
  let folds = 0;
  const spy = vi.spyOn(gpu, 'dispatch');
  for (let pass = 0; pass < passes; pass++) {
    const tape = new Tape({ deferColumnSums: defer });
    const y = withTape(tape, () => {
      const which = [0, 1, 0, 2];
      return mul(concatSeq(xs.map((x, i) => layerNorm(x, ln[which[i]!]!.weight, ln[which[i]!]!.bias))), w);
    });
    tape.keep(y);
    const before = gpu.counters.dispatches;
    spy.mockClear();
    tape.backward(y, Tensor.fromArray(gpu, rng.floats(y.size), y.shape, 'dy'));
    dispatches += gpu.counters.dispatches - before;
    const labels = spy.mock.calls.map((c) => String(c[4]));
    reductions += labels.filter((l) => l.startsWith('reduceColumns(sum)') && !l.endsWith(':partials')).length;
    folds += labels.filter((l) => l.startsWith('deferredColumnSums')).length;
    tape.dispose();
    y.release();
  }
  spy.mockRestore();
  const grads: Float32Array[] = [];
  for (const t of [...xs, ...ln.flatMap((l) => [l.weight, l.bias])]) grads.push(await t.grad!.toArray());
  const outside = await gpu.read(arena, 4 * C + 3);
  for (const i of [0, 1 + 2 * C, 2 + 4 * C]) expect(Number.isNaN(outside[i]!), `arena float ${i} untouched`).toBe(true);
  for (const t of [...xs, ...ln.flatMap((l) => [l.weight, l.bias]), w]) {
    if (t.grad && t.grad.buffer !== arena) t.grad.release();
    t.release();
  }
  gpu.release(arena);
  return { grads, dispatches, reductions, folds };
}

describe('deferred column sums', () => {
  it.each([1, 2])('give the bits of folding each layernorm at once (%i backward passes), in fewer dispatches', async (passes) => {
    const now = await run(false, passes);
    const later = await run(true, passes);
    later.grads.forEach((g, i) => {
      expect(g.some(Number.isNaN), `gradient ${i} has no NaN`).toBe(false);
      expect(Buffer.from(g.buffer).equals(Buffer.from(now.grads[i]!.buffer)), `gradient ${i} bit for bit`).toBe(true);
    });
    // Backward order, each pass: LN₃ (outside the arena) folds at once either way (1). At once,
    // LN₁ over c, LN₂ and LN₁ over a fold one each (c's 300 partial rows in two passes, counted
    // once here); deferred, c's and LN₂'s are queued and folded when a's LN₁ comes, a's at the end.
    expect(now.reductions).toBe(4 * passes);
    expect(now.folds).toBe(0);
    expect(later.reductions).toBe(passes);
    expect(later.folds).toBe(2 * passes);
    // And a's LN₁ adds no scratch onto γ's and β's gradients (nor any layernorm in a second pass).
    expect(later.dispatches).toBeLessThan(now.dispatches - passes);
  });
});
