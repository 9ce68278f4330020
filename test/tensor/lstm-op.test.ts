// lstmSequence on the tape end to end: h after every step and the last cell state against the
// float64 sequence reference, and every input's gradient (x, h0, c0, W, b), through the cell
// kernels' backward through time, against central finite differences of that reference, with a
// random upstream gradient; seeded through h, through c, and with zero initial states.
import { afterAll, beforeAll, describe, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { lstmSequence } from '../../src/tensor/ops/lstm.ts';
import { lstmSequenceRef } from '../../kernels/lstm.ref.ts';
import { testGpu } from '../helpers/gpu.ts';
import { checkOp } from '../helpers/opcheck.ts';
import { testRng } from '../helpers/seed.ts';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await testGpu();
});
afterAll(() => gpu?.pool.trim());

const [T, B, I, H] = [3, 2, 3, 5];
const d = { T, B, I, H };
const shapes = [[T, B, I], [B, H], [B, H], [4 * H, I + H], [4 * H]];

describe('lstmSequence on the tape', () => {
  it('h of every step: forward and the gradients of x, h0, c0, W, b', () =>
    checkOp(gpu, testRng(1), {
      name: 'lstm h',
      shapes,
      arena: [3, 4],
      gpu: ([x, h0, c0, w, b]) => lstmSequence(x!, h0!, c0!, w!, b!).h,
      ref: ([x, h0, c0, w, b]) => lstmSequenceRef(x!, h0!, c0!, w!, b!, d).hs,
    }));

  it('the last cell state alone (no gradient reaches h)', () =>
    checkOp(gpu, testRng(2), {
      name: 'lstm c',
      shapes,
      gpu: ([x, h0, c0, w, b]) => lstmSequence(x!, h0!, c0!, w!, b!).c,
      ref: ([x, h0, c0, w, b]) => lstmSequenceRef(x!, h0!, c0!, w!, b!, d).cT,
    }));

  it('zero initial states, no bias, one step', () =>
    checkOp(gpu, testRng(3), {
      name: 'lstm from zeros',
      shapes: [[1, 3, 4], [4 * 7, 4 + 7]],
      gpu: ([x, w]) => lstmSequence(x!, null, null, w!, null).h,
      ref: ([x, w]) => lstmSequenceRef(x!, new Float64Array(21), new Float64Array(21), w!, new Float64Array(28), { T: 1, B: 3, I: 4, H: 7 }).hs,
    }));
});
