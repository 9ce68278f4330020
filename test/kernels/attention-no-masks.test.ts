// A fused attention call with neither a causal bound nor a key mask runs pipelines compiled
// without their tests (MASKS=false, attention_common.wgsl): the bits of O, lse, dQ, dK and dV must
// be those of the pipelines with the tests (COCA_ATTENTION_MASKS=1 forces them), at awkward
// lengths whose query and key blocks end mid-subgroup, where rows and keys past the ends must
// still be left out; and masked calls must keep the tests. (attention.test.ts holds both against
// float64.)
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { attention, attentionBackward, releaseAttentionSaved, type AttentionSaved } from '../../kernels/attention.ts';
import { kernelKeys } from '../helpers/dispatches.ts';
import { poisoned, testGpu } from '../helpers/gpu.ts';
import { testRng } from '../helpers/seed.ts';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.pool.trim());
afterEach(() => {
  delete process.env.COCA_ATTENTION_MASKS;
});

async function run(B: number, H: number, Lq: number, Lk: number, D: number, forced: boolean, causal = false) {
  process.env.COCA_ATTENTION_MASKS = forced ? '1' : '0';
  const rng = testRng(5100 + Lq * 7 + Lk);
  const [q, g] = [rng.floats(B * H * Lq * D), rng.floats(B * H * Lq * D)];
  const [k, v] = [rng.floats(B * H * Lk * D), rng.floats(B * H * Lk * D)];
  const [Q, G, K, V] = [q, g, k, v].map((x, i) => gpu.upload(x, `in${i}`)) as GPUBuffer[];
  const O = poisoned(gpu, B * H * Lq * D, 'O');
  const dQ = poisoned(gpu, B * H * Lq * D, 'dQ');
  const dK = poisoned(gpu, B * H * Lk * D, 'dK');
  const dV = poisoned(gpu, B * H * Lk * D, 'dV');
  const call = { B, H, Lq, Lk, D, causal, q: { buffer: Q! }, k: { buffer: K! }, v: { buffer: V! }, o: { buffer: O }, path: 'fused' as const, fusedLayout: 'rows' as const };
  let saved!: AttentionSaved;
  const keys = kernelKeys(gpu, () => {
    saved = attention(gpu, call);
    attentionBackward(gpu, call, saved, { dO: { buffer: G! }, dQ: { buffer: dQ }, dK: { buffer: dK }, dV: { buffer: dV } });
  });
  const out = [await gpu.read(O), await gpu.read(saved.lse), await gpu.read(dQ), await gpu.read(dK), await gpu.read(dV)];
  releaseAttentionSaved(gpu, saved);
  for (const x of [Q, G, K, V, O, dQ, dK, dV]) gpu.release(x!);
  return { out, keys };
}

it('gives the bits of the pipelines with the mask tests, at lengths ending mid-block', async () => {
  for (const [B, H, Lq, Lk, D] of [[2, 3, 13, 29, 8], [1, 2, 65, 65, 32]] as const) {
    const fast = await run(B, H, Lq, Lk, D, false);
    const tested = await run(B, H, Lq, Lk, D, true);
    const name = `${B}x${H}x${Lq}x${Lk}x${D}`;
    expect(fast.keys.length, name).toBe(3);
    expect(fast.keys.every((k) => k.includes('MASKS=false')), `${name}: ${fast.keys}`).toBe(true);
    expect(tested.keys.every((k) => k.includes('MASKS=true')), `${name}: ${tested.keys}`).toBe(true);
    for (const [i, what] of ['O', 'lse', 'dQ', 'dK', 'dV'].entries()) {
      expect(fast.out[i]!.every(Number.isFinite), `${name} ${what} finite`).toBe(true);
      expect(Array.from(fast.out[i]!), `${name} ${what} bits`).toEqual(Array.from(tested.out[i]!));
    }
  }
});

it('keeps the tests for a causal call', async () => {
  const { keys } = await run(1, 2, 13, 13, 8, false, true);
  expect(keys.length).toBe(3);
  expect(keys.every((k) => k.includes('MASKS=true')), `${keys}`).toBe(true);
});
