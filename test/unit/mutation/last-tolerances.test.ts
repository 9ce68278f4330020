// The tolerance functions of kernels/*.ref.ts, judged by what a tolerance is for and not by its
// constants: (1) it must accept a correct float32 computation of the op — emulated here in float32
// (Math.fround after every operation), in an order other than the float64 reference's (one thread
// walking a row in index order, or runs of 256 terms then a pairwise tree of the runs), with inputs
// inside the domain each tolerance's comment states, at sizes where the float32 error grows (large
// counts, rows, steps); (2) it must refuse a wrong kernel: a max one
// float32 step off (a max copies a value: exact), a sum with one of its terms dropped (an error of a
// whole term, far above any rounding). The comparison is the kernel tests' own (compareClose:
// |got − want| ≤ atol + rtol·|want|). Nothing here repeats a bound's constant: a bound made tighter
// fails (1), one made looser fails (2).
import { describe, expect, it } from 'vitest';
import { batchnormBackwardRef, batchnormRef, batchnormTolerance } from '../../../kernels/batchnorm.ref.ts';
import { layernormBackwardRef, layernormRef, layernormTolerance } from '../../../kernels/layernorm.ref.ts';
import { lstmSequenceRef, lstmTolerance } from '../../../kernels/lstm.ref.ts';
import { globalAvgPoolRef, POOL_TOL } from '../../../kernels/pool.ref.ts';
import { reduceRowsRef, reduceTolerance } from '../../../kernels/reduce.ref.ts';
import { softmaxBackwardRef, softmaxRef, softmaxTolerance } from '../../../kernels/softmax.ref.ts';
import { compareClose, type Tolerance } from '../../../src/util/allclose.ts';

const f = Math.fround;

/** A seeded uniform generator in [0, 1) (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Float32 sum in a kernel's order: runs of `run` terms added one after another, then the runs' partials pairwise. */
function sumF32(terms: ArrayLike<number>, run = 256): number {
  let parts: number[] = [];
  for (let i = 0; i < terms.length; i += run) {
    let s = 0;
    for (let j = i; j < Math.min(i + run, terms.length); j++) s = f(s + f(terms[j]!));
    parts.push(s);
  }
  while (parts.length > 1) {
    const next: number[] = [];
    for (let i = 0; i < parts.length; i += 2) next.push(i + 1 < parts.length ? f(parts[i]! + parts[i + 1]!) : parts[i]!);
    parts = next;
  }
  return parts[0] ?? 0;
}

const accepts = (got: number[] | Float32Array | Float64Array, want: ArrayLike<number>, tol: Tolerance) => compareClose(got, want, tol).ok;

/** The float32 value one step above v. */
function nextUp(v: number): number {
  const b = new Float32Array([v]);
  const u = new Int32Array(b.buffer);
  u[0]! += v >= 0 ? 1 : -1;
  return b[0]!;
}

describe('reduceTolerance', () => {
  it('max: the exact maximum passes; one float32 step above or below it is a wrong kernel', () => {
    const r = rng(1);
    const x = Float32Array.from({ length: 1000 }, () => 2 * r() - 1);
    const want = reduceRowsRef('max', x, 1, x.length);
    const tol = reduceTolerance('max', x.length);
    expect(accepts([want[0]!], want, tol)).toBe(true);
    expect(accepts([nextUp(want[0]!)], want, tol)).toBe(false);
    expect(accepts([-nextUp(-want[0]!)], want, tol)).toBe(false);
  });

  // Terms of magnitude ≤ 1e-3, the positive ones first: the runs' partials reach ~ count·scale/4,
  // far above the result (~0), so the float32 rounding is of the partials' size, as in a real kernel.
  const count = 100_000;
  const scale = 1e-3;
  const r = rng(2);
  const pos = Array.from({ length: count / 2 }, () => f(scale * r()));
  const neg = Array.from({ length: count / 2 }, () => -f(scale * r()));
  const x = Float32Array.from([...pos, ...neg]);

  it('sum: a float32 sum in the kernel order passes; the same sum without its largest term does not', () => {
    const want = reduceRowsRef('sum', x, 1, count);
    const tol = reduceTolerance('sum', count, scale);
    const got = sumF32(x);
    expect(got).not.toBe(want[0]); // the float32 sum does round
    expect(accepts([got], want, tol)).toBe(true);
    let big = 0;
    x.forEach((v, i) => (Math.abs(v) > Math.abs(x[big]!) ? (big = i) : 0));
    const dropped = sumF32(x.filter((_, i) => i !== big));
    expect(accepts([dropped], want, tol)).toBe(false);
  });

  it('sumsq: a float32 sum of squares in the kernel order passes; without its largest term it does not', () => {
    const want = reduceRowsRef('sumsq', x, 1, count);
    const tol = reduceTolerance('sumsq', count, scale);
    const sq = x.map((v) => f(v * v));
    const got = sumF32(sq);
    expect(accepts([got], want, tol)).toBe(true);
    let big = 0;
    sq.forEach((v, i) => (v > sq[big]! ? (big = i) : 0));
    expect(accepts([sumF32(sq.filter((_, i) => i !== big))], want, tol)).toBe(false);
  });
});

/** Float32 sum one term after another, in index order (one thread walking a row or a channel). */
function seqF32(terms: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < terms.length; i++) s = f(s + f(terms[i]!));
  return s;
}

/** n float32 values in [−m, m], the positive ones first (so the running sum climbs far above the result, ~0). */
function climbing(n: number, m: number, seed: number): Float32Array {
  const r = rng(seed);
  const half = Math.floor(n / 2);
  return Float32Array.from({ length: n }, (_, i) => (i < half ? 1 : -1) * f(m * r()));
}

describe('POOL_TOL.avg', () => {
  it('a float32 global average of many values, summed in order, passes', () => {
    const hw = 1_000_000;
    const x = climbing(hw, 1, 3);
    const want = globalAvgPoolRef(x, 1, hw);
    const got = f(seqF32(x) / hw);
    expect(got).not.toBe(f(want[0]!));
    expect(accepts([got], want, POOL_TOL.avg(hw))).toBe(true);
  });
});

describe('softmaxTolerance', () => {
  // One long row, one thread walking it in index order: element 0 (the row's maximum, exp 1) is
  // added first, then ~10⁶ small terms, each addition rounding at the running sum's size.
  const cols = 1_000_000;
  /** The row: element 0 carries the share `big` of the mass, the others exp of [−1, 0] below it. */
  function row(big: number, seed: number): Float32Array {
    const r = rng(seed);
    return Float32Array.from({ length: cols }, (_, i) => (i === 0 ? f(Math.log(cols * big)) : f(-r())));
  }

  it('forward: a float32 softmax of a long row passes', () => {
    const x = row(0.1, 4);
    let m = -Infinity;
    for (const v of x) m = Math.max(m, v);
    const e = x.map((v) => f(Math.exp(f(v - m))));
    const s = seqF32(e);
    const y = e.map((v) => f(v / s));
    const want = softmaxRef(x, 1, cols);
    expect(y[0]).toBeGreaterThan(0.1);
    expect(accepts(y, want, softmaxTolerance(cols).fwd)).toBe(true);
  });

  it('backward: a float32 dy − Σ y·dy over a long row passes', () => {
    const x = row(0.632, 4);
    const y = Float32Array.from(softmaxRef(x, 1, cols));
    expect(y[0]).toBeGreaterThan(0.4);
    const r = rng(8);
    const dy = Float32Array.from({ length: cols }, () => f(2 * r() - 1));
    const s = seqF32(y.map((v, i) => f(v * dy[i]!)));
    const dx = y.map((v, i) => f(v * f(dy[i]! - s)));
    expect(accepts(dx, softmaxBackwardRef(y, dy, 1, cols), softmaxTolerance(cols).bwd)).toBe(true);
  });
});

describe('batchnormTolerance and layernormTolerance: the statistics and dγ, dβ of many terms', () => {
  const n = 1_000_000;
  const x = climbing(n, 2, 5);

  it('batch norm: a float32 mean over B·S terms passes (as the kernel test compares it)', () => {
    const ref = batchnormRef(x, [1], [0], 1, 1, n, { training: true });
    const mean = f(seqF32(x) / n);
    expect(accepts([mean], ref.mean, batchnormTolerance(n).stats)).toBe(true);
  });

  it('batch norm: a float32 dβ (Σ dy over B·S, in runs then pairwise) passes', () => {
    // dy's second half is its first half negated in another order: dβ is ~0 while the partials are not.
    const m = 65_536;
    const r = rng(6);
    const half = Array.from({ length: m / 2 }, () => f(2 * r() - 1));
    const dy = Float32Array.from([...half, ...half.map((v) => -v).reverse()]);
    const xs = x.subarray(0, m);
    const bref = batchnormBackwardRef(xs, [1], [0], [1], dy, 1, 1, m, true);
    const got = sumF32(dy);
    expect(got).not.toBe(0);
    expect(accepts([got], bref.dbeta, batchnormTolerance(m).dparams)).toBe(true);
  });

  it('layer norm: a float32 dβ (Σ dy over rows) passes', () => {
    const rows = 4096;
    const dy = climbing(rows, 1, 7);
    const bref = layernormBackwardRef(dy, [1], new Float32Array(rows), new Float32Array(rows).fill(1), dy, rows, 1);
    expect(accepts([seqF32(dy)], bref.dbeta, layernormTolerance(rows, 1).dparams)).toBe(true);
  });
});

describe('layernormTolerance: y and dx of one long row', () => {
  /** A float32 layer norm of one row (γ = 1, β = 0), its sums one term after another: y, and mean, rstd, x̂ for the backward. */
  function forward(x: Float32Array) {
    const cols = x.length;
    const mean = f(seqF32(x) / cols);
    const d = x.map((v) => f(v - mean));
    const variance = f(seqF32(d.map((v) => f(v * v))) / cols);
    const rstd = f(1 / f(Math.sqrt(f(variance + f(1e-5)))));
    return { y: d.map((v) => f(v * rstd)), mean, rstd };
  }

  it('y: a float32 layer norm of a long row passes', () => {
    const cols = 131_072;
    const x = climbing(cols, 2, 5);
    const { y } = forward(x);
    const ref = layernormRef(x, new Float64Array(cols).fill(1), new Float64Array(cols), 1, cols);
    expect(accepts(y, ref.y, layernormTolerance(1, cols).y)).toBe(true);
  });

  it('dx: a float32 backward of a long row passes (from its own mean and rstd, as the kernel test does)', () => {
    const cols = 262_144;
    const x = climbing(cols, 2, 5);
    const { y: xh, mean, rstd } = forward(x);
    const dy = climbing(cols, 1, 9);
    const a = f(seqF32(dy) / cols);
    const b = f(seqF32(dy.map((v, i) => f(v * xh[i]!))) / cols);
    const dx = dy.map((v, i) => f(rstd * f(f(v - a) - f(xh[i]! * b))));
    const bref = layernormBackwardRef(x, new Float64Array(cols).fill(1), [mean], [rstd], dy, 1, cols);
    const tol = layernormTolerance(1, cols).dx;
    expect(accepts(dx, bref.dx, { atol: tol.atol * Math.max(1, rstd), rtol: tol.rtol })).toBe(true);
  });
});

describe('batchnormTolerance: y and dx of one channel of many values', () => {
  it('a float32 batch norm and its backward pass, as the kernel test compares them (y from its own mean)', () => {
    const n = 262_144;
    const x = climbing(n, 2, 5);
    const mean = f(seqF32(x) / n);
    const d = x.map((v) => f(v - mean));
    const variance = f(seqF32(d.map((v) => f(v * v))) / n);
    const rstd = f(1 / f(Math.sqrt(f(variance + f(1e-5)))));
    const y = d.map((v) => f(v * rstd));
    const ref = batchnormRef(x, [1], [0], 1, 1, n, { training: true });
    const yWant = ref.y.map((v) => v + (ref.mean[0]! - mean) * ref.rstd[0]!);
    const tol = batchnormTolerance(n);
    expect(accepts(y, yWant, tol.y)).toBe(true);
    const dy = climbing(n, 1, 9);
    const a = f(seqF32(dy) / n);
    const b = f(seqF32(dy.map((v, i) => f(v * y[i]!))) / n);
    const dx = dy.map((v, i) => f(rstd * f(f(v - a) - f(y[i]! * b))));
    const bref = batchnormBackwardRef(x, [1], [mean], [rstd], dy, 1, 1, n, true);
    expect(accepts(dx, bref.dx, { atol: tol.dx.atol * Math.max(1, rstd), rtol: tol.dx.rtol })).toBe(true);
  });
});

describe('lstmTolerance', () => {
  it('a float32 LSTM run over 1000 steps passes (its error compounds over the sequence)', () => {
    const [T, B, I, H] = [1000, 8, 32, 32];
    const K = I + H;
    const r = rng(1);
    const x = Float32Array.from({ length: T * B * I }, () => f(2 * r() - 1));
    const h0 = Float32Array.from({ length: B * H }, () => f(2 * r() - 1));
    const c0 = Float32Array.from({ length: B * H }, () => f(2 * r() - 1));
    const w = Float32Array.from({ length: 4 * H * K }, () => f((2 * r() - 1) / Math.sqrt(K)));
    const bias = Float32Array.from({ length: 4 * H }, () => f((2 * r() - 1) / Math.sqrt(K)));
    const ref = lstmSequenceRef(x, h0, c0, w, bias, { T, B, I, H });
    const sigmoid = (v: number) => f(1 / f(1 + f(Math.exp(-v))));
    const hs = new Float32Array(T * B * H);
    let h = Float32Array.from(h0);
    let c = Float32Array.from(c0);
    const pre = new Float32Array(4 * H);
    for (let t = 0; t < T; t++) {
      const [hn, cn] = [new Float32Array(B * H), new Float32Array(B * H)];
      for (let b = 0; b < B; b++) {
        for (let q = 0; q < 4 * H; q++) {
          let s = bias[q]!;
          for (let k = 0; k < I; k++) s = f(s + f(x[(t * B + b) * I + k]! * w[q * K + k]!));
          for (let k = 0; k < H; k++) s = f(s + f(h[b * H + k]! * w[q * K + I + k]!));
          pre[q] = s;
        }
        for (let j = 0; j < H; j++) {
          const [ig, fg, gg, og] = [sigmoid(pre[j]!), sigmoid(pre[H + j]!), f(Math.tanh(pre[2 * H + j]!)), sigmoid(pre[3 * H + j]!)];
          const e = b * H + j;
          cn[e] = f(f(fg * c[e]!) + f(ig * gg));
          hn[e] = f(og * f(Math.tanh(cn[e]!)));
        }
      }
      hs.set(hn, t * B * H);
      [h, c] = [hn, cn];
    }
    const tol = lstmTolerance(K, T);
    expect(accepts(hs, ref.hs, tol)).toBe(true);
    expect(accepts(c, ref.cT, tol)).toBe(true);
  });

  it('one float32 LSTM step over a long input passes (its gates are dot products of K terms)', () => {
    // Inside the domain the tolerance states (inputs ≤ 1, weights ≤ 1/√K): weights in [0, 1/√K] and
    // each input row's positive values first, so each gate's running dot climbs well above its result.
    const [B, I, H] = [64, 16_376, 8];
    const K = I + H;
    const r = rng(1);
    const x = Float32Array.from({ length: B * I }, (_, i) => (i % I < I / 2 ? 1 : -1) * f(r()));
    const h0 = Float32Array.from({ length: B * H }, () => f(2 * r() - 1));
    const c0 = Float32Array.from({ length: B * H }, () => f(2 * r() - 1));
    const w = Float32Array.from({ length: 4 * H * K }, () => f(r() / Math.sqrt(K)));
    const bias = Float32Array.from({ length: 4 * H }, () => f((2 * r() - 1) / Math.sqrt(K)));
    const ref = lstmSequenceRef(x, h0, c0, w, bias, { T: 1, B, I, H });
    const sigmoid = (v: number) => f(1 / f(1 + f(Math.exp(-v))));
    const [h, c] = [new Float32Array(B * H), new Float32Array(B * H)];
    const pre = new Float32Array(4 * H);
    for (let b = 0; b < B; b++) {
      for (let q = 0; q < 4 * H; q++) {
        let s = bias[q]!;
        for (let k = 0; k < I; k++) s = f(s + f(x[b * I + k]! * w[q * K + k]!));
        for (let k = 0; k < H; k++) s = f(s + f(h0[b * H + k]! * w[q * K + I + k]!));
        pre[q] = s;
      }
      for (let j = 0; j < H; j++) {
        const [ig, fg, gg, og] = [sigmoid(pre[j]!), sigmoid(pre[H + j]!), f(Math.tanh(pre[2 * H + j]!)), sigmoid(pre[3 * H + j]!)];
        const e = b * H + j;
        c[e] = f(f(fg * c0[e]!) + f(ig * gg));
        h[e] = f(og * f(Math.tanh(c[e]!)));
      }
    }
    const tol = lstmTolerance(K);
    expect(accepts(h, ref.hs, tol)).toBe(true);
    expect(accepts(c, ref.cT, tol)).toBe(true);
  });
});
