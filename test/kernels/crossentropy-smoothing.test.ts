// Cross-entropy with label smoothing (`coca train --label-smoothing ε`) against its float64
// reference: vocabularies of 1, 2, primes and one past four workgroups' sweep, ε of 0.1, 0.37 and
// 0.99, ignored rows, logits of ±1e4, the fused gradient and the separate backward with a random
// upstream gradient; outputs poisoned with NaN first. The reference is held to torch's definition
// written out here and to finite differences; ε = 0 is the unsmoothed kernel to the bit.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { crossEntropy, crossEntropyBackward, IGNORE_INDEX } from '../../kernels/crossentropy.ts';
import { crossEntropyBackwardRef, crossEntropyRef } from '../../kernels/crossentropy.ref.ts';
import { releaseTokenIds, uploadTokenIds } from '../../kernels/embedding.ts';
import { ShapeError } from '../../src/gpu/errors.ts';
import { expectClose } from '../helpers/close.ts';
import { numericGrad } from '../helpers/finite-diff.ts';
import { poisoned, testGpu } from '../helpers/gpu.ts';
import { testRng } from '../helpers/seed.ts';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.pool.trim());

// The unsmoothed kernel's tolerances (test/kernels/crossentropy.test.ts), and for the mean of the
// logits an f32 sum of V terms of magnitude ≤ X: ~V·X·2⁻²⁴ absolute, times ε/V in the loss. A
// dropped ε/V in the gradient is off by ε/V·g, a mean taken over the wrong count by O(ε·x).
const lossTol = (X: number) => ({ atol: 1e-5 + 2 * X * 2 ** -24, rtol: 1e-5 });
const gradTol = (g: number) => ({ atol: 1e-6 * Math.abs(g), rtol: 1e-4 });

async function runCase(N: number, V: number, eps: number, salt: number, X = 3): Promise<void> {
  const rng = testRng(salt);
  const logits = Float32Array.from({ length: N * V }, () => rng.uniform(-X, X));
  const targets = Array.from({ length: N }, (_, n) => (n % 4 === 2 ? IGNORE_INDEX : rng.int(V)));
  const gradScale = rng.uniform(0.5, 2);
  const upstream = rng.uniform(-2, 2);
  const what = `N=${N} V=${V} ε=${eps} logits ±${X}`;

  const L = gpu.upload(logits, 'logits');
  const T = uploadTokenIds(gpu, targets, { label: 'targets' });
  const dloss = gpu.upload(new Float32Array([upstream]), 'dloss');
  const [loss, rowLoss, stats, grad, dlogits] = [poisoned(gpu, 1, 'loss'), poisoned(gpu, N, 'rowLoss'), poisoned(gpu, 2 * N, 'stats'), poisoned(gpu, N * V, 'grad'), poisoned(gpu, N * V, 'dlogits')];
  const logitsRef = { buffer: L, shape: [N, V] };
  crossEntropy(gpu, { logits: logitsRef, targets: T, loss: { buffer: loss }, rowLoss: { buffer: rowLoss, shape: [N] }, stats: { buffer: stats, shape: [N, 2] }, grad: { buffer: grad, shape: [N, V] }, gradScale, smoothing: eps });
  crossEntropyBackward(gpu, { logits: logitsRef, targets: T, stats: { buffer: stats, shape: [N, 2] }, dlogits: { buffer: dlogits, shape: [N, V] }, dloss, gradScale, smoothing: eps });

  const ref = crossEntropyRef(logits, targets, V, IGNORE_INDEX, eps);
  expectClose(await gpu.read(rowLoss, N), ref.rowLoss, lossTol(X), `rowLoss ${what}`);
  expectClose(await gpu.read(stats, 2 * N), ref.stats, { atol: 1e-6, rtol: 1e-6 }, `stats ${what}`);
  expectClose(await gpu.read(loss, 1), [ref.loss], lossTol(X), `mean loss ${what}`);
  const g = ref.count ? gradScale / ref.count : 0;
  expectClose(await gpu.read(grad, N * V), crossEntropyBackwardRef(logits, targets, V, IGNORE_INDEX, gradScale, eps), gradTol(g), `fused grad ${what}`);
  expectClose(await gpu.read(dlogits, N * V), crossEntropyBackwardRef(logits, targets, V, IGNORE_INDEX, gradScale * upstream, eps), gradTol(g * upstream), `backward ${what}`);
  releaseTokenIds(gpu, T);
  for (const b of [L, dloss, loss, rowLoss, stats, grad, dlogits]) gpu.release(b);
}

describe('cross-entropy with label smoothing (GPU) against the float64 reference', () => {
  it.each([
    [1, 1, 0.1],
    [5, 2, 0.37],
    [7, 97, 0.1],
    [13, 1031, 0.37],
    [3, 257, 0.99], // one past four lanes' sweep of a 64-wide workgroup
    [2, 4099, 0.1],
  ])('N=%i V=%i ε=%f: loss, fused gradient and backward', async (N, V, eps) => {
    await runCase(N, V, eps, N * 7919 + V);
  });

  it('logits of ±1e4: the mean of the logits stays within f32 rounding of the sum', async () => {
    await runCase(4, 5003, 0.1, 11, 1e4);
  });

  it('ε = 0 is the unsmoothed kernel, to the bit', async () => {
    const [N, V] = [6, 61];
    const rng = testRng(21);
    const L = gpu.upload(Float32Array.from({ length: N * V }, () => rng.uniform(-4, 4)), 'logits');
    const T = uploadTokenIds(gpu, [3, IGNORE_INDEX, 60, 0, 17, 5], { label: 'targets' });
    const run = async (smoothing?: number) => {
      const [loss, grad] = [poisoned(gpu, 1, 'loss'), poisoned(gpu, N * V, 'grad')];
      crossEntropy(gpu, { logits: { buffer: L, shape: [N, V] }, targets: T, loss: { buffer: loss }, grad: { buffer: grad, shape: [N, V] }, ...(smoothing !== undefined ? { smoothing } : {}) });
      const r = [...(await gpu.read(loss, 1)), ...(await gpu.read(grad, N * V))];
      for (const b of [loss, grad]) gpu.release(b);
      return r;
    };
    const plain = await run();
    expect(await run(0)).toEqual(plain);
    expect(await run(0.05)).not.toEqual(plain);
    releaseTokenIds(gpu, T);
    gpu.release(L);
  });

  it('refuses ε outside [0, 1] in one line', () => {
    const L = gpu.alloc(6, 'logits');
    const loss = gpu.alloc(1, 'loss');
    const T = uploadTokenIds(gpu, [0, 1], { label: 'targets' });
    for (const e of [-0.1, 1.5, NaN]) {
      expect(() => crossEntropy(gpu, { logits: { buffer: L, shape: [2, 3] }, targets: T, loss: { buffer: loss }, smoothing: e })).toThrow(new ShapeError(`cross_entropy: label smoothing ${e} must lie in [0, 1]`));
    }
    releaseTokenIds(gpu, T);
    gpu.release(L);
    gpu.release(loss);
  });
});

describe('the smoothed float64 reference', () => {
  it("is torch's definition: (1 − ε)·NLL + ε·mean over the vocabulary of −log p, over the counted rows", () => {
    const rng = testRng(8);
    const [N, V, eps] = [5, 7, 0.3];
    const logits = Float64Array.from({ length: N * V }, () => rng.uniform(-3, 3));
    const targets = [2, IGNORE_INDEX, 6, 0, IGNORE_INDEX];
    let sum = 0;
    for (const n of [0, 2, 3]) {
      const row = logits.subarray(n * V, (n + 1) * V);
      const logp = Array.from(row, (x) => x - Math.log(row.reduce((a, y) => a + Math.exp(y), 0)));
      sum += (1 - eps) * -logp[targets[n]!]! + (eps * logp.reduce((a, l) => a - l, 0)) / V;
    }
    expect(crossEntropyRef(logits, targets, V, IGNORE_INDEX, eps).loss).toBeCloseTo(sum / 3, 12);
  });

  it('its gradient is that of its loss (central finite differences)', () => {
    const rng = testRng(9);
    const [N, V, eps, dloss] = [4, 6, 0.45, -1.3];
    const logits = Float64Array.from({ length: N * V }, () => rng.uniform(-2, 2));
    const targets = [5, IGNORE_INDEX, 0, 3];
    const fd = numericGrad((x) => Float64Array.of(crossEntropyRef(x, targets, V, IGNORE_INDEX, eps).loss), logits, Float64Array.of(dloss));
    expectClose(crossEntropyBackwardRef(logits, targets, V, IGNORE_INDEX, dloss, eps), fd, { atol: 1e-8, rtol: 1e-6 }, 'dlogits');
  });
});
