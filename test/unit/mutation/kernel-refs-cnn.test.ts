// The forwards of the conv2d, pooling, batch norm and LSTM references (kernels/*.ref.ts) on cases
// worked out by hand and against second implementations written here another way (an explicitly
// padded input instead of bounds tests, gates from a matrix-vector product and sigmoid written
// through tanh). test/unit/refs-cnn-lstm.test.ts checks each backward against finite differences
// of its forward; a forward wrong the same way in both passed it (the mutation run of
// docs/mutation.md found the padding tests, strides, tie rules, running statistics and gate
// order so untested). No GPU.
import { describe, expect, it } from 'vitest';
import { batchnormRef } from '../../../kernels/batchnorm.ref.ts';
import { conv2dBackwardRef, conv2dRef, conv2dRefOut, type Conv2dRefDims } from '../../../kernels/conv2d.ref.ts';
import { lstmCellBackwardRef, lstmCellRef, lstmSequenceBackwardRef, lstmSequenceRef } from '../../../kernels/lstm.ref.ts';
import { globalAvgPoolBackwardRef, globalAvgPoolRef, maxPoolBackwardRef, maxPoolRef, poolRefOut, type PoolRefDims } from '../../../kernels/pool.ref.ts';
import { testRng } from '../../helpers/seed.ts';

const close = (got: ArrayLike<number>, want: ArrayLike<number>, digits = 12, what = '') => {
  expect(got.length, `${what} length`).toBe(want.length);
  for (let i = 0; i < want.length; i++) expect(got[i], `${what} element ${i}`).toBeCloseTo(want[i]!, digits);
};
const f64 = (a: Float32Array) => Float64Array.from(a);

/** x [B, C, H, W] copied into the middle of a [B, C, H + 2ph, W + 2pw] array filled with `fill`. */
function padded(x: ArrayLike<number>, planes: number, H: number, W: number, ph: number, pw: number, fill: number) {
  const [Hp, Wp] = [H + 2 * ph, W + 2 * pw];
  const out = new Float64Array(planes * Hp * Wp).fill(fill);
  for (let p = 0; p < planes; p++) for (let r = 0; r < H; r++) for (let c = 0; c < W; c++) out[(p * Hp + r + ph) * Wp + c + pw] = x[(p * H + r) * W + c]!;
  return { out, Hp, Wp };
}

/** Convolution of the explicitly zero-padded input: every window lies inside, no bounds tests. */
function convByPadding(x: ArrayLike<number>, w: ArrayLike<number>, bias: ArrayLike<number> | null, d: Conv2dRefDims) {
  const { out: xp, Hp, Wp } = padded(x, d.B * d.Cin, d.H, d.W, d.ph, d.pw, 0);
  const OH = Math.floor((Hp - d.KH) / d.sh) + 1;
  const OW = Math.floor((Wp - d.KW) / d.sw) + 1;
  const y: number[] = [];
  for (let b = 0; b < d.B; b++) {
    for (let co = 0; co < d.Cout; co++) {
      for (let oh = 0; oh < OH; oh++) {
        for (let ow = 0; ow < OW; ow++) {
          let s = bias ? bias[co]! : 0;
          for (let ci = 0; ci < d.Cin; ci++) {
            for (let kh = 0; kh < d.KH; kh++) {
              for (let kw = 0; kw < d.KW; kw++) {
                s += w[((co * d.Cin + ci) * d.KH + kh) * d.KW + kw]! * xp[((b * d.Cin + ci) * Hp + oh * d.sh + kh) * Wp + ow * d.sw + kw]!;
              }
            }
          }
          y.push(s);
        }
      }
    }
  }
  return y;
}

describe('conv2d reference forward', () => {
  it('output size floor((H + 2p − K)/s) + 1', () => {
    const d = { B: 1, Cin: 1, Cout: 1, H: 6, W: 8, KH: 3, KW: 2, sh: 2, sw: 3, ph: 1, pw: 0 };
    // (6 + 2 − 3)/2 = 2.5 → 3 rows; (8 − 2)/3 = 2 → 3 columns.
    expect(conv2dRefOut(d)).toEqual([3, 3]);
    expect(conv2dRefOut({ ...d, H: 1, W: 1, KH: 1, KW: 1, sh: 1, sw: 1, ph: 0 })).toEqual([1, 1]);
    // Paddings of 2 and 3: (5 + 4 − 3)/1 + 1 = 7 rows, (4 + 6 − 2)/2 + 1 = 5 columns.
    expect(conv2dRefOut({ ...d, H: 5, W: 4, KH: 3, KW: 2, sh: 1, sw: 2, ph: 2, pw: 3 })).toEqual([7, 5]);
  });

  it('a 2×2 kernel of distinct weights over a 3×4 picture, no padding (worked by hand)', () => {
    // x[r][c] = 4r + c + 1; y[oh][ow] = x[oh][ow] + 10·x[oh][ow+1] + 100·x[oh+1][ow] + 1000·x[oh+1][ow+1].
    const x = Array.from({ length: 12 }, (_, i) => i + 1);
    const d = { B: 1, Cin: 1, H: 3, W: 4, Cout: 1, KH: 2, KW: 2, sh: 1, sw: 1, ph: 0, pw: 0 };
    close(conv2dRef(x, [1, 10, 100, 1000], null, d), [6521, 7632, 8743, 10965, 12076, 13187]);
  });

  it('padding 1 and stride 2 over a 3×3 picture: only the inside is summed (worked by hand)', () => {
    // Windows of rows/columns {−1, 0, 1} and {1, 2, 3}: 1+2+4+5, 2+3+5+6, 4+5+7+8, 5+6+8+9, plus the bias.
    const x = [1, 2, 3, 4, 5, 6, 7, 8, 9];
    const d = { B: 1, Cin: 1, H: 3, W: 3, Cout: 1, KH: 3, KW: 3, sh: 2, sw: 2, ph: 1, pw: 1 };
    close(conv2dRef(x, new Array(9).fill(1), [0.5], d), [12.5, 16.5, 24.5, 28.5]);
    // The same with only the centre tap: each output is its window's centre, x at (2oh, 2ow).
    close(conv2dRef(x, [0, 0, 0, 0, 1, 0, 0, 0, 0], null, d), [1, 3, 7, 9]);
    // Only the bottom-right tap: x at (2oh + 1, 2ow + 1), which lies past the picture (zero) unless oh = ow = 0.
    close(conv2dRef(x, [0, 0, 0, 0, 0, 0, 0, 0, 1], null, d), [5, 0, 0, 0]);
    // Only the top-left tap: x at (2oh − 1, 2ow − 1), in the padding unless oh = ow = 1.
    close(conv2dRef(x, [1, 0, 0, 0, 0, 0, 0, 0, 0], null, d), [0, 0, 0, 5]);
  });

  it.each([
    ['several batches and channels, unequal strides and paddings', { B: 2, Cin: 3, H: 5, W: 7, Cout: 2, KH: 3, KW: 2, sh: 2, sw: 1, ph: 1, pw: 2 }],
    ['a kernel as large as the padded picture', { B: 1, Cin: 2, H: 3, W: 2, Cout: 3, KH: 5, KW: 4, sh: 1, sw: 1, ph: 1, pw: 1 }],
    ['1×1 kernel, stride 3', { B: 3, Cin: 2, H: 7, W: 5, Cout: 2, KH: 1, KW: 1, sh: 3, sw: 3, ph: 0, pw: 0 }],
  ] as [string, Conv2dRefDims][])('against the explicitly padded convolution (%s)', (_, d) => {
    const rng = testRng(60);
    const x = f64(rng.floats(d.B * d.Cin * d.H * d.W));
    const w = f64(rng.floats(d.Cout * d.Cin * d.KH * d.KW));
    const b = f64(rng.floats(d.Cout));
    close(conv2dRef(x, w, b, d), convByPadding(x, w, b, d));
    close(conv2dRef(x, w, null, d), convByPadding(x, w, null, d));
  });

  it('backward: dbias sums dy over batch and pixels; dx, dw as Σ dy·y against the padded convolution', () => {
    const rng = testRng(61);
    const d = { B: 2, Cin: 2, H: 4, W: 5, Cout: 3, KH: 3, KW: 3, sh: 2, sw: 2, ph: 1, pw: 1 };
    const [OH, OW] = conv2dRefOut(d);
    const x = f64(rng.floats(d.B * d.Cin * d.H * d.W));
    const w = f64(rng.floats(d.Cout * d.Cin * d.KH * d.KW));
    const dy = f64(rng.floats(d.B * d.Cout * OH * OW));
    const g = conv2dBackwardRef(x, w, dy, d);
    const dbias = Array.from({ length: d.Cout }, (_, co) => {
      let s = 0;
      for (let b = 0; b < d.B; b++) for (let p = 0; p < OH * OW; p++) s += dy[(b * d.Cout + co) * OH * OW + p]!;
      return s;
    });
    close(g.dbias, dbias);
    // y is linear in x (and in w): ∂(Σ y·dy)/∂x_i = Σ y(e_i)·dy, the convolution of a unit input.
    const dot = (y: number[]) => y.reduce((a, v, i) => a + v * dy[i]!, 0);
    const unit = (n: number, i: number) => Float64Array.from({ length: n }, (_, j) => (j === i ? 1 : 0));
    close(g.dx, Array.from({ length: x.length }, (_, i) => dot(convByPadding(unit(x.length, i), w, null, d))));
    close(g.dw, Array.from({ length: w.length }, (_, i) => dot(convByPadding(x, unit(w.length, i), null, d))));
  });
});

describe('pooling reference forward', () => {
  it('max pool with padding: padding never wins over negative inputs; idx is ih·W + iw (worked by hand)', () => {
    // x = [[−1, −5, −3], [−4, −2, −6]], 2×2 windows, stride 1, padding 1: a 3×4 output.
    const d: PoolRefDims = { planes: 1, H: 2, W: 3, KH: 2, KW: 2, sh: 1, sw: 1, ph: 1, pw: 1 };
    expect(poolRefOut(d)).toEqual([3, 4]);
    // Paddings of 2 and 3, strides 3 and 2: (2 + 4 − 2)/3 → 1, + 1 = 2 rows; (3 + 6 − 2)/2 → 3, + 1 = 4 columns.
    expect(poolRefOut({ ...d, sh: 3, sw: 2, ph: 2, pw: 3 })).toEqual([2, 4]);
    const { y, idx } = maxPoolRef([-1, -5, -3, -4, -2, -6], d);
    close(y, [-1, -1, -3, -3, -1, -1, -2, -3, -4, -2, -2, -6]);
    expect([...idx]).toEqual([0, 0, 2, 2, 0, 0, 4, 2, 3, 4, 4, 5]);
  });

  it('max pool: the first maximum in scan order (row by row) wins a tie; planes are independent', () => {
    // Plane 0 all 7: each window's first element. Plane 1: the 3×3 window's maxima 9 at (0, 2) and (1, 0).
    const d: PoolRefDims = { planes: 2, H: 3, W: 3, KH: 3, KW: 3, sh: 1, sw: 1, ph: 0, pw: 0 };
    const x = [...new Array(9).fill(7), 1, 2, 9, 9, 0, 3, 4, 5, 6];
    const { y, idx } = maxPoolRef(x, d);
    close(y, [7, 9]);
    expect([...idx]).toEqual([0, 2]);
    // Stride 2 over a 4×5 plane of ones: windows start at columns 0 and 2 (and rows 0, 2).
    const e: PoolRefDims = { planes: 1, H: 4, W: 5, KH: 2, KW: 3, sh: 2, sw: 2, ph: 0, pw: 0 };
    expect(poolRefOut(e)).toEqual([2, 2]);
    expect([...maxPoolRef(new Array(20).fill(1), e).idx]).toEqual([0, 2, 10, 12]);
    // Padding 1, stride 2 over 2×2: each window holds one inside element, the corner it overlaps.
    const p: PoolRefDims = { planes: 1, H: 2, W: 2, KH: 2, KW: 2, sh: 2, sw: 2, ph: 1, pw: 1 };
    const r = maxPoolRef([3, 1, 2, 4], p);
    close(r.y, [3, 1, 2, 4]);
    expect([...r.idx]).toEqual([0, 1, 2, 3]);
  });

  it('max pool: a window of −∞ inputs gives −∞ and the index of its first inside element, never a padding position', () => {
    const d: PoolRefDims = { planes: 1, H: 2, W: 2, KH: 2, KW: 2, sh: 1, sw: 1, ph: 1, pw: 1 };
    const { y, idx } = maxPoolRef([-Infinity, -Infinity, -Infinity, 5], d);
    // 3×3 windows of rows {oh − 1, oh}, columns {ow − 1, ow}.
    expect([...y]).toEqual([-Infinity, -Infinity, -Infinity, -Infinity, 5, 5, -Infinity, 5, 5]);
    expect([...idx]).toEqual([0, 0, 1, 0, 3, 3, 2, 3, 3]);
  });

  it('max pool against −∞ padding and a plain window maximum (random, no ties)', () => {
    const rng = testRng(62);
    const d: PoolRefDims = { planes: 3, H: 7, W: 6, KH: 3, KW: 2, sh: 2, sw: 3, ph: 1, pw: 1 };
    const [OH, OW] = poolRefOut(d);
    const x = f64(rng.floats(d.planes * d.H * d.W));
    const { out: xp, Hp, Wp } = padded(x, d.planes, d.H, d.W, d.ph, d.pw, -Infinity);
    const want: number[] = [];
    const wantIdx: number[] = [];
    for (let pl = 0; pl < d.planes; pl++) {
      for (let oh = 0; oh < OH; oh++) {
        for (let ow = 0; ow < OW; ow++) {
          const cells: [number, number][] = [];
          for (let kh = 0; kh < d.KH; kh++) for (let kw = 0; kw < d.KW; kw++) cells.push([oh * d.sh + kh, ow * d.sw + kw]);
          const vals = cells.map(([r, c]) => xp[(pl * Hp + r) * Wp + c]!);
          const m = Math.max(...vals);
          const [r, c] = cells[vals.indexOf(m)]!;
          want.push(m);
          wantIdx.push((r - d.ph) * d.W + (c - d.pw));
        }
      }
    }
    const { y, idx } = maxPoolRef(x, d);
    close(y, want);
    expect([...idx]).toEqual(wantIdx);
  });

  it('max pool backward adds each dy into the input its idx names, overlaps summed', () => {
    // Two planes of 2×2, two outputs each; idx given directly: plane 0's outputs both name 3, plane 1's name 0 and 2.
    const d: PoolRefDims = { planes: 2, H: 2, W: 2, KH: 2, KW: 1, sh: 1, sw: 1, ph: 0, pw: 0 };
    expect(poolRefOut(d)).toEqual([1, 2]);
    close(maxPoolBackwardRef([3, 3, 0, 2], [1, 2, 5, 7], d), [0, 0, 0, 3, 5, 0, 7, 0]);
  });

  it('global average pool: the mean of each plane, and dy/hw back to each element', () => {
    close(globalAvgPoolRef([1, 2, 3, 10, 20, 60], 2, 3), [2, 30]);
    close(globalAvgPoolBackwardRef([3, -6], 2, 3), [1, 1, 1, -2, -2, -2]);
  });
});

describe('batch norm reference forward', () => {
  // x [B = 2, C = 2, S = 2]: channel 0 holds 1, 3, 5, 7 (mean 4, biased variance 5, unbiased 20/3),
  // channel 1 holds 2 four times (mean 2, variance 0).
  const x = [1, 3, 2, 2, 5, 7, 2, 2];
  const gamma = [2, 0.5];
  const beta = [1, -1];

  it("training: the batch's mean and biased variance; running statistics moved by the momentum, the variance unbiased", () => {
    const r = batchnormRef(x, gamma, beta, 2, 2, 2, { training: true, runningMean: [0.5, 1], runningVar: [2, 3], momentum: 0.2, eps: 1e-3 });
    const r0 = 1 / Math.sqrt(5 + 1e-3);
    close(r.mean, [4, 2]);
    close(r.rstd, [r0, 1 / Math.sqrt(1e-3)], 10);
    close(r.y, [-3 * r0 * 2 + 1, -r0 * 2 + 1, -1, -1, r0 * 2 + 1, 3 * r0 * 2 + 1, -1, -1]);
    close(r.runningMean, [0.8 * 0.5 + 0.2 * 4, 0.8 * 1 + 0.2 * 2]);
    close(r.runningVar, [0.8 * 2 + (0.2 * 20) / 3, 0.8 * 3]);
  });

  it("PyTorch's defaults: momentum 0.1, eps 1e-5, running statistics from 0 and 1", () => {
    const r = batchnormRef(x, gamma, beta, 2, 2, 2, { training: true });
    close(r.rstd, [1 / Math.sqrt(5 + 1e-5), 1 / Math.sqrt(1e-5)], 9);
    close(r.runningMean, [0.4, 0.2]);
    close(r.runningVar, [0.9 + (0.1 * 20) / 3, 0.9]);
  });

  it('inference: the running statistics normalise, and stay as they were', () => {
    const r = batchnormRef(x, gamma, beta, 2, 2, 2, { training: false, runningMean: [1, 2], runningVar: [4 - 1e-5, 0.25 - 1e-5] });
    close(r.mean, [1, 2]);
    close(r.rstd, [0.5, 2]);
    // ch 0: (x − 1)·0.5·2 + 1 = x; ch 1: (2 − 2)·… − 1 = −1.
    close(r.y, [1, 3, -1, -1, 5, 7, -1, -1]);
    close(r.runningMean, [1, 2]);
    close(r.runningVar, [4 - 1e-5, 0.25 - 1e-5]);
    const d = batchnormRef(x, gamma, beta, 2, 2, 2, { training: false });
    close(d.rstd, [1 / Math.sqrt(1 + 1e-5), 1 / Math.sqrt(1 + 1e-5)]);
    close(d.mean, [0, 0]);
  });
});

describe('LSTM reference forward', () => {
  const sigmoid = (v: number) => (1 + Math.tanh(v / 2)) / 2;

  it('the cell with gates in the order i, f, g, o (worked by hand)', () => {
    // pre = (ln 3, −ln 3, ln 3, 0): i = 3/4, f = 1/4, g = tanh(ln 3) = 8/10, o = 1/2.
    const L3 = Math.log(3);
    const r = lstmCellRef([L3, -L3, L3, 0], [2], 1, 1);
    close(r.acts, [0.75, 0.25, 0.8, 0.5]);
    close(r.c, [0.25 * 2 + 0.75 * 0.8]);
    close(r.h, [0.5 * Math.tanh(1.1)]);
    // No previous cell state: c′ = i·g.
    const z = lstmCellRef([L3, -L3, L3, 0], null, 1, 1);
    close(z.c, [0.6]);
    close(z.h, [0.5 * Math.tanh(0.6)]);
  });

  it('the cell over [B, 4H] rows: gate k of unit j at b·4H + k·H + j', () => {
    const rng = testRng(63);
    const [B, H] = [3, 2];
    const pre = f64(rng.floats(B * 4 * H, -3, 3));
    const c = f64(rng.floats(B * H));
    const r = lstmCellRef(pre, c, B, H);
    for (let b = 0; b < B; b++) {
      for (let j = 0; j < H; j++) {
        const gate = (k: number) => pre[b * 4 * H + k * H + j]!;
        const [i, f, g, o] = [sigmoid(gate(0)), sigmoid(gate(1)), Math.tanh(gate(2)), sigmoid(gate(3))];
        const cn = f * c[b * H + j]! + i * g;
        expect(r.c[b * H + j]).toBeCloseTo(cn, 12);
        expect(r.h[b * H + j]).toBeCloseTo(o * Math.tanh(cn), 12);
        [i, f, g, o].forEach((v, k) => expect(r.acts[b * 4 * H + k * H + j]).toBeCloseTo(v, 12));
      }
    }
  });

  it('the cell backward: a missing c, dh or dc counts as zeros', () => {
    const rng = testRng(64);
    const [B, H] = [2, 3];
    const acts = lstmCellRef(f64(rng.floats(B * 4 * H, -2, 2)), f64(rng.floats(B * H)), B, H).acts;
    const [c, dh, dc] = [f64(rng.floats(B * H)), f64(rng.floats(B * H)), f64(rng.floats(B * H))];
    const zero = new Float64Array(B * H);
    const same = (a: ReturnType<typeof lstmCellBackwardRef>, b: ReturnType<typeof lstmCellBackwardRef>) => {
      close(a.dgates, b.dgates, 14);
      close(a.dcPrev, b.dcPrev, 14);
    };
    same(lstmCellBackwardRef(acts, null, dh, dc, B, H), lstmCellBackwardRef(acts, zero, dh, dc, B, H));
    same(lstmCellBackwardRef(acts, c, null, dc, B, H), lstmCellBackwardRef(acts, c, zero, dc, B, H));
    same(lstmCellBackwardRef(acts, c, dh, null, B, H), lstmCellBackwardRef(acts, c, dh, zero, B, H));
    // And neither all zeros nor independent of what was left out.
    expect(lstmCellBackwardRef(acts, c, dh, null, B, H).dgates.some((v) => v !== 0)).toBe(true);
    expect(lstmCellBackwardRef(acts, c, null, dc, B, H).dgates.some((v) => v !== 0)).toBe(true);
  });

  it('a sequence: pre-activations [x | h]·Wᵀ + b step by step, h and c carried', () => {
    const rng = testRng(65);
    const d = { T: 3, B: 2, I: 3, H: 2 };
    const K = d.I + d.H;
    const x = f64(rng.floats(d.T * d.B * d.I));
    const [h0, c0] = [f64(rng.floats(d.B * d.H)), f64(rng.floats(d.B * d.H))];
    const [w, bias] = [f64(rng.floats(4 * d.H * K)), f64(rng.floats(4 * d.H))];
    const r = lstmSequenceRef(x, h0, c0, w, bias, d);
    let [h, c] = [Array.from(h0), Array.from(c0)];
    const hs: number[] = [];
    for (let t = 0; t < d.T; t++) {
      const [hn, cn]: number[][] = [[], []];
      for (let b = 0; b < d.B; b++) {
        const input = [...x.slice((t * d.B + b) * d.I, (t * d.B + b + 1) * d.I), ...h.slice(b * d.H, (b + 1) * d.H)];
        const z = (row: number) => bias[row]! + input.reduce((a, v, k) => a + v * w[row * K + k]!, 0);
        for (let j = 0; j < d.H; j++) {
          const [i, f, g, o] = [sigmoid(z(j)), sigmoid(z(d.H + j)), Math.tanh(z(2 * d.H + j)), sigmoid(z(3 * d.H + j))];
          cn.push(f * c[b * d.H + j]! + i * g);
          hn.push(o * Math.tanh(cn[cn.length - 1]!));
        }
      }
      [h, c] = [hn, cn];
      hs.push(...h);
    }
    close(r.hs, hs);
    close(r.cT, c);
  });

  it('the sequence backward: no dcT is dcT = 0', () => {
    const rng = testRng(66);
    const d = { T: 2, B: 2, I: 2, H: 3 };
    const K = d.I + d.H;
    const x = f64(rng.floats(d.T * d.B * d.I));
    const [h0, c0] = [f64(rng.floats(d.B * d.H)), f64(rng.floats(d.B * d.H))];
    const [w, bias] = [f64(rng.floats(4 * d.H * K)), f64(rng.floats(4 * d.H))];
    const dhs = f64(rng.floats(d.T * d.B * d.H));
    const a = lstmSequenceBackwardRef(x, h0, c0, w, bias, dhs, null, d);
    const b = lstmSequenceBackwardRef(x, h0, c0, w, bias, dhs, new Float64Array(d.B * d.H), d);
    for (const key of ['dx', 'dh0', 'dc0', 'dw', 'db'] as const) close(a[key], b[key], 14, key);
  });
});
