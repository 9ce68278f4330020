// The cross-entropy family against its float64 reference: vocabularies of 1, primes and ~50k,
// logits of ±1e4, ignored rows, the fused gradient and the separate backward with a random
// upstream gradient; outputs poisoned with NaN first.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { crossEntropy, crossEntropyBackward, IGNORE_INDEX } from '../../kernels/crossentropy.ts';
import { crossEntropyBackwardRef, crossEntropyRef } from '../../kernels/crossentropy.ref.ts';
import { releaseTokenIds, uploadTokenIds } from '../../kernels/embedding.ts';
import { expectClose } from '../helpers/close.ts';
import { poisoned, testGpu } from '../helpers/gpu.ts';
import { testRng } from '../helpers/seed.ts';
import type { Rng } from '../../src/util/prng.ts';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.pool.trim());

// Float32 sums of ≤ 50k exps lose ~1e-6 relative; the max is exact, and at logits of ±1e4 the
// f32 difference max − x[target] rounds by ≤ 1e-3 on a loss of ~2e4 (5e-8 relative). A softmax
// entry is exp of an exact difference minus log(sum): ~1e-6 relative. A dropped onehot or a
// wrong row is off by O(g), a dropped rescale in the combine by a factor of e^Δ.
const LOSS_TOL = { atol: 1e-5, rtol: 1e-5 };
const gradTol = (g: number) => ({ atol: 1e-6 * Math.abs(g), rtol: 1e-4 });

type Kind = 'uniform' | 'huge';

/** Logits of `kind`: uniform in ±scale, or ±1e4 with clusters just below the max and tied rows. */
function drawLogits(rng: Rng, N: number, V: number, kind: Kind, scale = 3): Float32Array {
  const x = new Float32Array(N * V);
  for (let n = 0; n < N; n++) {
    const mode = kind === 'uniform' ? 0 : n % 3;
    for (let j = 0; j < V; j++) {
      const i = n * V + j;
      if (mode === 0) x[i] = rng.uniform(-scale, scale) * (kind === 'huge' ? 1e4 / scale : 1);
      else if (mode === 1) x[i] = rng.next() < 0.5 ? rng.uniform(-1e4, 1e4) : 1e4 - 5 * rng.next(); // a spread softmax at 1e4
      else x[i] = -1e4 + 3 * rng.next(); // every logit near −1e4
    }
  }
  return x;
}

async function runCase(N: number, V: number, kind: Kind, salt: number, ignoreIndex = IGNORE_INDEX): Promise<void> {
  const rng = testRng(salt);
  const logits = drawLogits(rng, N, V, kind);
  const targets = Array.from({ length: N }, (_, n) => (n % 4 === 3 ? ignoreIndex : rng.int(V)));
  const gradScale = rng.uniform(0.5, 2);
  const upstream = rng.uniform(-2, 2);
  const what = `N=${N} V=${V} ${kind}, ignore ${ignoreIndex}`;

  const L = gpu.upload(logits, 'logits');
  const T = uploadTokenIds(gpu, targets, { label: 'targets' });
  const dloss = gpu.upload(new Float32Array([upstream]), 'dloss');
  const [loss, rowLoss, stats, grad, dlogits] = [poisoned(gpu, 1, 'loss'), poisoned(gpu, N, 'rowLoss'), poisoned(gpu, 2 * N, 'stats'), poisoned(gpu, N * V, 'grad'), poisoned(gpu, N * V, 'dlogits')];
  const logitsRef = { buffer: L, shape: [N, V] };
  const { count } = crossEntropy(gpu, {
    logits: logitsRef,
    targets: T,
    ignoreIndex,
    loss: { buffer: loss },
    rowLoss: { buffer: rowLoss, shape: [N] },
    stats: { buffer: stats, shape: [N, 2] },
    grad: { buffer: grad, shape: [N, V] },
    gradScale,
  });
  crossEntropyBackward(gpu, { logits: logitsRef, targets: T, ignoreIndex, stats: { buffer: stats, shape: [N, 2] }, dlogits: { buffer: dlogits, shape: [N, V] }, dloss, gradScale });

  const ref = crossEntropyRef(logits, targets, V, ignoreIndex);
  expect(count, `${what}: counted rows`).toBe(ref.count);
  expectClose(await gpu.read(rowLoss, N), ref.rowLoss, LOSS_TOL, `rowLoss ${what}`);
  expectClose(await gpu.read(stats, 2 * N), ref.stats, { atol: 1e-6, rtol: 1e-6 }, `stats ${what}`);
  expectClose(await gpu.read(loss, 1), [ref.loss], LOSS_TOL, `mean loss ${what}`);
  const g = ref.count ? gradScale / ref.count : 0;
  expectClose(await gpu.read(grad, N * V), crossEntropyBackwardRef(logits, targets, V, ignoreIndex, gradScale), gradTol(g), `fused grad ${what}`);
  expectClose(await gpu.read(dlogits, N * V), crossEntropyBackwardRef(logits, targets, V, ignoreIndex, gradScale * upstream), gradTol(g * upstream), `backward ${what}`);
  releaseTokenIds(gpu, T);
  for (const b of [L, dloss, loss, rowLoss, stats, grad, dlogits]) gpu.release(b);
}

describe('cross-entropy', () => {
  it('vocabulary of 1: zero loss, zero gradient', async () => {
    await runCase(1, 1, 'uniform', 1, 0);
    await runCase(5, 1, 'uniform', 2);
  });

  it('prime vocabularies, rows not a multiple of anything', async () => {
    await runCase(7, 97, 'uniform', 3);
    await runCase(13, 1031, 'uniform', 4, 0);
  });

  it('vocabulary ~50k with logits of ±1e4', async () => {
    await runCase(3, 50257, 'huge', 5);
    await runCase(2, 50021, 'uniform', 6);
  });

  it('a batch with every target ignored gives loss 0 and a zero gradient', async () => {
    const [N, V] = [3, 11];
    const L = gpu.upload(new Float32Array(N * V).fill(0.5), 'logits');
    const T = uploadTokenIds(gpu, [0, 0, 0], { label: 'targets' });
    const loss = poisoned(gpu, 1, 'loss');
    const grad = poisoned(gpu, N * V, 'grad');
    const { count } = crossEntropy(gpu, { logits: { buffer: L, shape: [N, V] }, targets: T, ignoreIndex: 0, loss: { buffer: loss }, grad: { buffer: grad, shape: [N, V] } });
    expect(count).toBe(0);
    expect([...(await gpu.read(loss, 1))]).toEqual([0]);
    expect((await gpu.read(grad, N * V)).every((x) => x === 0)).toBe(true);
    releaseTokenIds(gpu, T);
    for (const b of [L, loss, grad]) gpu.release(b);
  });
});

describe('cross-entropy bad input', () => {
  const call = (logitsShape: number[], targets: number[], targetShape = [targets.length], ignoreIndex?: number) => () => {
    const L = gpu.alloc(64, 'logits');
    const loss = gpu.alloc(1, 'loss');
    const T = uploadTokenIds(gpu, targets, { shape: targetShape, label: 'targets' });
    try {
      crossEntropy(gpu, { logits: { buffer: L, shape: logitsShape }, targets: T, loss: { buffer: loss }, ignoreIndex });
    } finally {
      releaseTokenIds(gpu, T);
      gpu.release(L);
      gpu.release(loss);
    }
  };
  it('names a target outside the vocabulary, before dispatch', () => {
    expect(call([3, 5], [1, 5, 2])).toThrow(/targets\[1\] = 5 is outside the vocabulary \[0, 5\) or the ignore index -100/);
    expect(call([2, 2, 5], [1, 0, -1, 4], [2, 2])).toThrow(/targets\[1, 0\] = -1 is outside the vocabulary \[0, 5\) or the ignore index -100/);
    expect(call([3, 5], [1, -1, 2], [3], -1)).not.toThrow();
  });
  it('names mismatched shapes', () => {
    expect(call([4, 5], [1, 2, 3])).toThrow(/logits \[4, 5\] do not fit targets \[3\]; logits should be \[3, vocab\]/);
    expect(call([2, 40], [1, 2])).toThrow(/logits \[2, 40\] needs 80 floats from offset 0 but its buffer "logits" holds 64/);
  });
});
