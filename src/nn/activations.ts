// The few functions the LSTM captioners need that no kernel computes on its own, composed from
// ops that exist (the brief keeps kernels/ untouched): ReLU as a 2-row max pool of [x; 0], the
// sigmoid as a softmax over [x, 0], dropout as a product with a host-drawn mask, a mean over the
// rows of each batch element and a broadcast over them, both as matmuls with a constant of ones.
// Each is exact (max, e^x/(e^x + 1), 0 or 1/(1−p), Σ/n), and its gradient is the op's own.
import type { Gpu } from '../gpu/gpu.ts';
import { ShapeError } from '../gpu/errors.ts';
import { maxPool2d } from '../tensor/ops/cnn.ts';
import { matmul } from '../tensor/ops/linear.ts';
import { mul } from '../tensor/ops/pointwise.ts';
import { concatSeq, sliceSeq } from '../tensor/ops/sequence.ts';
import { reshape } from '../tensor/ops/shape.ts';
import { softmaxRows } from '../tensor/ops/softmax.ts';
import { persist, Tensor, shapeStr } from '../tensor/tensor.ts';
import type { Rng } from '../util/prng.ts';

/**
 * Constant tensors a forward makes (zeros, ones, dropout masks): ops that save them for the
 * backward keep reading them, and a decode reuses them step after step, so they live (outside
 * any tidy() scope) until release().
 */
export class Constants {
  private made: Tensor[] = [];
  private cache = new Map<string, Tensor>();
  constructor(readonly gpu: Gpu) {}

  filled(shape: readonly number[], value: number): Tensor {
    const key = `${value}:${shape.join('x')}`;
    let t = this.cache.get(key);
    if (!t) {
      t = Tensor.fromArray(this.gpu, new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(value), shape, `const(${value})`);
      this.cache.set(key, t);
      this.made.push(persist(t));
    }
    return t;
  }

  own(t: Tensor): Tensor {
    this.made.push(persist(t));
    return t;
  }

  release(): void {
    for (const t of this.made) t.release();
    this.made = [];
    this.cache.clear();
  }
}

/** max(x, 0) elementwise, x [..., W]: each row of W values and a row of zeros, max-pooled in pairs. */
export function relu(x: Tensor, k: Constants): Tensor {
  const W = x.shape[x.shape.length - 1]!;
  const R = x.size / W;
  const pairs = concatSeq([reshape(x, [R, 1, W]), k.filled([1, 1, W], 0)], R);
  return reshape(maxPool2d(reshape(pairs, [1, R, 2, W]), { kernel: [2, 1] }), x.shape);
}

/** 1 / (1 + e^−x) of x [N, 1]: the first column of softmax([x, 0]). */
export function sigmoidColumn(x: Tensor, k: Constants): Tensor {
  const N = x.size;
  if (x.shape[x.shape.length - 1] !== 1) throw new ShapeError(`sigmoidColumn: x ${shapeStr(x.shape)} should be [N, 1]`);
  const s = softmaxRows(reshape(concatSeq([reshape(x, [N, 1, 1]), k.filled([1, 1, 1], 0)], N), [N, 2]));
  return reshape(sliceSeq(reshape(s, [N, 2, 1]), 0, 1), [N, 1]);
}

/** Inverted dropout: x·m with m = 0 (probability p) or 1/(1 − p), drawn from rng; x itself when p = 0. */
export function dropout(x: Tensor, p: number, rng: Rng, k: Constants): Tensor {
  if (p <= 0) return x;
  const keep = 1 / (1 - p);
  const m = new Float32Array(x.size);
  for (let i = 0; i < m.length; i++) m[i] = rng.next() < p ? 0 : keep;
  return mul(x, k.own(Tensor.fromArray(x.gpu, m, x.shape, 'dropout.mask')));
}

/** The mean over the rows of each batch element: x [B, R, C] → [B, C]. */
export function meanRows(x: Tensor, k: Constants): Tensor {
  const [B, R, C] = x.shape as [number, number, number];
  return reshape(matmul(k.filled([B, 1, R], 1 / R), x), [B, C]);
}

/** v [B, C] repeated over R rows: [B, R, C]. */
export function repeatRows(v: Tensor, R: number, k: Constants): Tensor {
  const [B, C] = v.shape as [number, number];
  return matmul(k.filled([B, R, 1], 1), reshape(v, [B, 1, C]));
}

/** s [B, 1] repeated over C columns: [B, C]. */
export function repeatColumn(s: Tensor, C: number, k: Constants): Tensor {
  return matmul(reshape(s, [s.size, 1]), k.filled([1, C], 1));
}
