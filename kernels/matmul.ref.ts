// Float64 reference of the matmul family: plain loops, the ground truth for tests and for the
// validation step of `coca bench matmul`.

export interface MatmulRefDims {
  M: number;
  N: number;
  K: number;
  batch: number;
  transA: boolean;
  transB: boolean;
  /** Elements between batches; 0 broadcasts one matrix over the batch. Default: dense. */
  strideA?: number;
  strideB?: number;
}

/** Element (m, k) of op(A) for batch b: A is (batch, M, K), or (batch, K, M) when transA. */
function at(x: ArrayLike<number>, base: number, r: number, c: number, rows: number, cols: number, trans: boolean): number {
  return trans ? x[base + c * rows + r]! : x[base + r * cols + c]!;
}

/**
 * C (batch, M, N) = alpha·op(A)·op(B) + bias (N) + c0 (batch, M, N), all optional but A and B.
 */
export function matmulRef(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  d: MatmulRefDims,
  opts: { alpha?: number; bias?: ArrayLike<number>; accumulate?: ArrayLike<number> } = {},
): Float64Array {
  const { M, N, K, batch } = d;
  const sA = d.strideA ?? M * K;
  const sB = d.strideB ?? K * N;
  const alpha = opts.alpha ?? 1;
  const out = new Float64Array(batch * M * N);
  for (let bi = 0; bi < batch; bi++) {
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let acc = 0;
        for (let k = 0; k < K; k++) {
          acc += at(a, bi * sA, m, k, M, K, d.transA) * at(b, bi * sB, k, n, K, N, d.transB);
        }
        const i = bi * M * N + m * N + n;
        out[i] = alpha * acc + (opts.bias ? opts.bias[n]! : 0) + (opts.accumulate ? opts.accumulate[i]! : 0);
      }
    }
  }
  return out;
}

/**
 * Backward of C = op(A)·op(B) for one matrix (batch 1): given dC (M, N), returns dA and dB in
 * the stored layouts of A and B (so dA is (K, M) when transA).
 */
export function matmulBackwardRef(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  dc: ArrayLike<number>,
  d: Omit<MatmulRefDims, 'batch'>,
): { da: Float64Array; db: Float64Array } {
  const { M, N, K } = d;
  const da = new Float64Array(M * K);
  const db = new Float64Array(K * N);
  for (let m = 0; m < M; m++) {
    for (let k = 0; k < K; k++) {
      let s = 0;
      for (let n = 0; n < N; n++) s += dc[m * N + n]! * at(b, 0, k, n, K, N, d.transB);
      da[d.transA ? k * M + m : m * K + k] = s;
    }
  }
  for (let k = 0; k < K; k++) {
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let m = 0; m < M; m++) s += at(a, 0, m, k, M, K, d.transA) * dc[m * N + n]!;
      db[d.transB ? n * K + k : k * N + n] = s;
    }
  }
  return { da, db };
}

/**
 * Tolerance for a float32 matmul against this reference with inputs of magnitude ≤ 1: float32
 * rounding grows like √K·2⁻²⁴ per output; the bound leaves a wide margin and still fails any
 * wrong index (errors of order 1).
 */
export function matmulTolerance(K: number): { atol: number; rtol: number } {
  return { atol: 1e-5 * Math.sqrt(K), rtol: 1e-4 };
}

/** Float64 element (m, n) of op(A)·op(B) alone, for checking a sample of a large output. */
export function matmulRefElement(a: ArrayLike<number>, b: ArrayLike<number>, d: Omit<MatmulRefDims, 'batch'>, m: number, n: number): number {
  let s = 0;
  for (let k = 0; k < d.K; k++) s += at(a, 0, m, k, d.M, d.K, d.transA) * at(b, 0, k, n, d.K, d.N, d.transB);
  return s;
}

/** Float64 row sums of op(A), Σ_k op(A)[m, k] (+ `accumulate`), length M: matmul's rowSumA. */
export function rowSumsRef(a: ArrayLike<number>, M: number, K: number, transA: boolean, accumulate?: ArrayLike<number>): Float64Array {
  const out = new Float64Array(M);
  for (let m = 0; m < M; m++) {
    let s = accumulate ? accumulate[m]! : 0;
    for (let k = 0; k < K; k++) s += at(a, 0, m, k, M, K, transA);
    out[m] = s;
  }
  return out;
}
