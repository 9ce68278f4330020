// Float64 reference of the attention family: plain loops over the dense [B, H, L, D] layout
// (the kernels read strided layouts; tests scatter these arrays into them). The ground truth for
// tests and for the validation step of `coca bench attention`.
//
// O = softmax(scale·Q·Kᵀ + mask)·V. Query i may see key j when the key-padding mask says 1 for
// (b, j) and, if causal, when j ≤ i + causalOffset (default Lk − Lq: the last query lines up with
// the last key, so a decoder step with a KV cache, Lq = 1, sees every cached key). A row that
// sees no key has O = 0, lse = −∞ and zero gradients.

export interface AttentionDims {
  B: number;
  H: number;
  Lq: number;
  Lk: number;
  D: number;
  /** Default 1/√D. */
  scale?: number;
  causal?: boolean;
  /** Default Lk − Lq. */
  causalOffset?: number;
  /** [B, Lk], nonzero = attend. */
  keyMask?: ArrayLike<number>;
}

export interface AttentionRefOut {
  o: Float64Array; // [B, H, Lq, D]
  lse: Float64Array; // [B, H, Lq]
  p: Float64Array; // [B, H, Lq, Lk]
}

export const attentionScale = (d: AttentionDims): number => d.scale ?? 1 / Math.sqrt(d.D);

/** Whether query i may attend key j in batch b. */
export function attends(d: AttentionDims, b: number, i: number, j: number): boolean {
  if (d.keyMask && !d.keyMask[b * d.Lk + j]) return false;
  if (d.causal && j > i + (d.causalOffset ?? d.Lk - d.Lq)) return false;
  return true;
}

export function attentionRef(q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, d: AttentionDims): AttentionRefOut {
  const { B, H, Lq, Lk, D } = d;
  const scale = attentionScale(d);
  const o = new Float64Array(B * H * Lq * D);
  const lse = new Float64Array(B * H * Lq);
  const p = new Float64Array(B * H * Lq * Lk);
  const s = new Float64Array(Lk);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const bh = b * H + h;
      for (let i = 0; i < Lq; i++) {
        let mx = -Infinity;
        for (let j = 0; j < Lk; j++) {
          if (!attends(d, b, i, j)) {
            s[j] = -Infinity;
            continue;
          }
          let acc = 0;
          for (let e = 0; e < D; e++) acc += q[(bh * Lq + i) * D + e]! * k[(bh * Lk + j) * D + e]!;
          s[j] = scale * acc;
          mx = Math.max(mx, s[j]!);
        }
        const row = bh * Lq + i;
        if (mx === -Infinity) {
          lse[row] = -Infinity;
          continue; // O and P stay 0
        }
        let sum = 0;
        for (let j = 0; j < Lk; j++) sum += Math.exp(s[j]! - mx);
        lse[row] = mx + Math.log(sum);
        for (let j = 0; j < Lk; j++) {
          const pj = Math.exp(s[j]! - lse[row]!);
          p[row * Lk + j] = pj;
          for (let e = 0; e < D; e++) o[row * D + e] += pj * v[(bh * Lk + j) * D + e]!;
        }
      }
    }
  }
  return { o, lse, p };
}

/**
 * Backward from the upstream gradient dO [B, H, Lq, D]: dP = dO·Vᵀ, dS = P∘(dP − rowsum(dO∘O)),
 * dQ = scale·dS·K, dK = scale·dSᵀ·Q, dV = Pᵀ·dO (all dense [B, H, L, D]).
 */
export function attentionBackwardRef(
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  dout: ArrayLike<number>,
  d: AttentionDims,
): { dq: Float64Array; dk: Float64Array; dv: Float64Array } {
  const { B, H, Lq, Lk, D } = d;
  const scale = attentionScale(d);
  const { o, p } = attentionRef(q, k, v, d);
  const dq = new Float64Array(B * H * Lq * D);
  const dk = new Float64Array(B * H * Lk * D);
  const dv = new Float64Array(B * H * Lk * D);
  for (let bh = 0; bh < B * H; bh++) {
    for (let i = 0; i < Lq; i++) {
      const row = bh * Lq + i;
      let delta = 0;
      for (let e = 0; e < D; e++) delta += dout[row * D + e]! * o[row * D + e]!;
      for (let j = 0; j < Lk; j++) {
        const pj = p[row * Lk + j]!;
        if (pj === 0) continue;
        let dp = 0;
        for (let e = 0; e < D; e++) dp += dout[row * D + e]! * v[(bh * Lk + j) * D + e]!;
        const ds = pj * (dp - delta);
        for (let e = 0; e < D; e++) {
          dq[row * D + e] += scale * ds * k[(bh * Lk + j) * D + e]!;
          dk[(bh * Lk + j) * D + e] += scale * ds * q[row * D + e]!;
          dv[(bh * Lk + j) * D + e] += pj * dout[row * D + e]!;
        }
      }
    }
  }
  return { dq, dk, dv };
}

/** FLOPs of one forward call: two products of 2·Lq·Lk·D each per (b, h), masked entries included. */
export function attentionFlops(B: number, H: number, Lq: number, Lk: number, D: number, backward = false): number {
  const fwd = 4 * B * H * Lq * Lk * D;
  // The backward does the forward's QKᵀ again plus four more products (dV, dP, dQ, dK).
  return backward ? fwd + 5 * 2 * B * H * Lq * Lk * D : fwd;
}

/**
 * Float64 checks of sampled rows from dense [B, H, L, D] arrays (b = h = 0): O and dQ of query
 * rows, dK and dV of key rows (for the bench: the full reference of a 4096-long sequence would
 * hold 16 Mi probabilities). Each needs the row log-sum-exps, computed once for all rows.
 */
export function attentionSampledRowsRef(q: Float32Array, k: Float32Array, v: Float32Array, g: Float32Array, L: number, D: number, qRows: number[], kRows: number[]) {
  const scale = 1 / Math.sqrt(D);
  const dot = (a: Float32Array, i: number, b: Float32Array, j: number) => {
    let s = 0;
    for (let d = 0; d < D; d++) s += a[i * D + d]! * b[j * D + d]!;
    return s;
  };
  const lse = new Float64Array(L);
  const o = new Float64Array(L * D);
  const need = new Set([...qRows, ...Array.from({ length: L }, (_, i) => i)]);
  for (const i of need) {
    let mx = -Infinity;
    const s = Array.from({ length: L }, (_, j) => scale * dot(q, i, k, j));
    for (const x of s) mx = Math.max(mx, x);
    let sum = 0;
    for (const x of s) sum += Math.exp(x - mx);
    lse[i] = mx + Math.log(sum);
    for (let j = 0; j < L; j++) {
      const p = Math.exp(s[j]! - lse[i]!);
      for (let d = 0; d < D; d++) o[i * D + d] += p * v[j * D + d]!;
    }
  }
  const delta = Array.from({ length: L }, (_, i) => {
    let s = 0;
    for (let d = 0; d < D; d++) s += g[i * D + d]! * o[i * D + d]!;
    return s;
  });
  const ds = (i: number, j: number) => {
    const p = Math.exp(scale * dot(q, i, k, j) - lse[i]!);
    return [p, p * (dot(g, i, v, j) - delta[i]!)] as const;
  };
  const dq = qRows.map((i) => {
    const r = new Float64Array(D);
    for (let j = 0; j < L; j++) {
      const s = scale * ds(i, j)[1];
      for (let d = 0; d < D; d++) r[d] += s * k[j * D + d]!;
    }
    return r;
  });
  const dkv = kRows.map((j) => {
    const dk = new Float64Array(D);
    const dv = new Float64Array(D);
    for (let i = 0; i < L; i++) {
      const [p, s] = ds(i, j);
      for (let d = 0; d < D; d++) {
        dk[d] += scale * s * q[i * D + d]!;
        dv[d] += p * g[i * D + d]!;
      }
    }
    return [dk, dv] as const;
  });
  return { o, dq, dkv };
}
