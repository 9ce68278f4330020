// Float64 reference of the LSTM family: the cell, its backward, and a whole sequence with its
// backward through time, in plain loops (the gates' product included), gate order i, f, g, o.

const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));

/** From pre-activations [B, 4H] and c [B, H] (null = zeros): activations, c' and h'. */
export function lstmCellRef(pre: ArrayLike<number>, c: ArrayLike<number> | null, B: number, H: number): { acts: Float64Array; c: Float64Array; h: Float64Array } {
  const acts = new Float64Array(B * 4 * H);
  const cn = new Float64Array(B * H);
  const h = new Float64Array(B * H);
  for (let b = 0; b < B; b++) {
    for (let j = 0; j < H; j++) {
      const g0 = b * 4 * H + j;
      const [i, f, g, o] = [sigmoid(pre[g0]!), sigmoid(pre[g0 + H]!), Math.tanh(pre[g0 + 2 * H]!), sigmoid(pre[g0 + 3 * H]!)];
      [acts[g0], acts[g0 + H], acts[g0 + 2 * H], acts[g0 + 3 * H]] = [i, f, g, o];
      const e = b * H + j;
      cn[e] = f * (c ? c[e]! : 0) + i * g;
      h[e] = o * Math.tanh(cn[e]!);
    }
  }
  return { acts, c: cn, h };
}

/** Gradients of the pre-activations and of c from the activations, c and the gradients reaching h' and c' (null = 0). */
export function lstmCellBackwardRef(
  acts: ArrayLike<number>,
  c: ArrayLike<number> | null,
  dh: ArrayLike<number> | null,
  dc: ArrayLike<number> | null,
  B: number,
  H: number,
): { dgates: Float64Array; dcPrev: Float64Array } {
  const dgates = new Float64Array(B * 4 * H);
  const dcPrev = new Float64Array(B * H);
  for (let b = 0; b < B; b++) {
    for (let j = 0; j < H; j++) {
      const g0 = b * 4 * H + j;
      const e = b * H + j;
      const [i, f, g, o] = [acts[g0]!, acts[g0 + H]!, acts[g0 + 2 * H]!, acts[g0 + 3 * H]!];
      const cp = c ? c[e]! : 0;
      const tc = Math.tanh(f * cp + i * g);
      const gh = dh ? dh[e]! : 0;
      const gc = (dc ? dc[e]! : 0) + gh * o * (1 - tc * tc);
      dgates[g0] = gc * g * i * (1 - i);
      dgates[g0 + H] = gc * cp * f * (1 - f);
      dgates[g0 + 2 * H] = gc * i * (1 - g * g);
      dgates[g0 + 3 * H] = gh * tc * o * (1 - o);
      dcPrev[e] = gc * f;
    }
  }
  return { dgates, dcPrev };
}

export interface LstmRefDims {
  T: number;
  B: number;
  I: number;
  H: number;
}

/** Pre-activations [B, 4H] = [x | h]·Wᵀ + b, W [4H, I + H]. */
function gatesRef(x: ArrayLike<number>, xOff: number, h: ArrayLike<number>, w: ArrayLike<number>, bias: ArrayLike<number>, d: LstmRefDims): Float64Array {
  const K = d.I + d.H;
  const out = new Float64Array(d.B * 4 * d.H);
  for (let b = 0; b < d.B; b++) {
    for (let r = 0; r < 4 * d.H; r++) {
      let s = bias[r]!;
      for (let k = 0; k < d.I; k++) s += x[xOff + b * d.I + k]! * w[r * K + k]!;
      for (let k = 0; k < d.H; k++) s += h[b * d.H + k]! * w[r * K + d.I + k]!;
      out[b * 4 * d.H + r] = s;
    }
  }
  return out;
}

/** A sequence x [T, B, I] from h0, c0 [B, H]: hs [T, B, H] and the last c, with what the backward needs. */
export function lstmSequenceRef(
  x: ArrayLike<number>,
  h0: ArrayLike<number>,
  c0: ArrayLike<number>,
  w: ArrayLike<number>,
  bias: ArrayLike<number>,
  d: LstmRefDims,
): { hs: Float64Array; cT: Float64Array; acts: Float64Array[]; cs: Float64Array[]; hsIn: Float64Array[] } {
  const hs = new Float64Array(d.T * d.B * d.H);
  const acts: Float64Array[] = [];
  const cs: Float64Array[] = [Float64Array.from(c0)];
  const hsIn: Float64Array[] = [Float64Array.from(h0)];
  for (let t = 0; t < d.T; t++) {
    const cell = lstmCellRef(gatesRef(x, t * d.B * d.I, hsIn[t]!, w, bias, d), cs[t]!, d.B, d.H);
    acts.push(cell.acts);
    cs.push(cell.c);
    hsIn.push(cell.h);
    hs.set(cell.h, t * d.B * d.H);
  }
  return { hs, cT: cs[d.T]!, acts, cs, hsIn };
}

/** Backward through time of Σ hs·dhs + Σ cT·dcT: dx [T, B, I], dh0, dc0 [B, H], dW [4H, I + H], db [4H]. */
export function lstmSequenceBackwardRef(
  x: ArrayLike<number>,
  h0: ArrayLike<number>,
  c0: ArrayLike<number>,
  w: ArrayLike<number>,
  bias: ArrayLike<number>,
  dhs: ArrayLike<number>,
  dcT: ArrayLike<number> | null,
  d: LstmRefDims,
): { dx: Float64Array; dh0: Float64Array; dc0: Float64Array; dw: Float64Array; db: Float64Array } {
  const K = d.I + d.H;
  const f = lstmSequenceRef(x, h0, c0, w, bias, d);
  const dx = new Float64Array(d.T * d.B * d.I);
  const dw = new Float64Array(4 * d.H * K);
  const db = new Float64Array(4 * d.H);
  let dhNext: Float64Array = new Float64Array(d.B * d.H);
  let dc: Float64Array = dcT ? Float64Array.from(dcT) : new Float64Array(d.B * d.H);
  for (let t = d.T - 1; t >= 0; t--) {
    const dh = Float64Array.from(dhNext, (v, e) => v + dhs[t * d.B * d.H + e]!);
    const cell = lstmCellBackwardRef(f.acts[t]!, f.cs[t]!, dh, dc, d.B, d.H);
    dhNext = new Float64Array(d.B * d.H);
    for (let b = 0; b < d.B; b++) {
      for (let r = 0; r < 4 * d.H; r++) {
        const g = cell.dgates[b * 4 * d.H + r]!;
        db[r] += g;
        for (let k = 0; k < d.I; k++) {
          dx[t * d.B * d.I + b * d.I + k] += g * w[r * K + k]!;
          dw[r * K + k] += g * x[t * d.B * d.I + b * d.I + k]!;
        }
        for (let k = 0; k < d.H; k++) {
          dhNext[b * d.H + k] += g * w[r * K + d.I + k]!;
          dw[r * K + d.I + k] += g * f.hsIn[t]![b * d.H + k]!;
        }
      }
    }
    dc = cell.dcPrev;
  }
  return { dx, dh0: dhNext, dc0: dc, dw, db };
}

/**
 * Tolerances with inputs ≤ 1 and weights ≤ 1/√(I + H): the gates are float32 matmul outputs
 * (√K·2⁻²⁴ rounding), the cell is a few transcendental evaluations (WGSL's exp, tanh: a few ulp);
 * a sequence compounds them over T steps. A swapped gate or a dropped term is off by O(0.1).
 */
export function lstmTolerance(K: number, T = 1) {
  return { atol: (2e-6 + 1e-6 * Math.sqrt(K)) * T, rtol: 1e-4 };
}
