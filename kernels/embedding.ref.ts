// Float64 reference of the embedding family: plain loops, the ground truth for tests and for the
// validation step of `coca bench embedding`.

/**
 * out (N, D) = table (V, D) [ids (N)] + pos (maxT, D) [n % T] when pos is given
 * (ids are then B sequences of length T, flattened).
 */
export function embeddingRef(table: ArrayLike<number>, ids: ArrayLike<number>, D: number, pos?: { table: ArrayLike<number>; T: number }): Float64Array {
  const N = ids.length;
  const out = new Float64Array(N * D);
  for (let n = 0; n < N; n++) {
    const id = ids[n]!;
    const t = pos ? n % pos.T : 0;
    for (let d = 0; d < D; d++) {
      out[n * D + d] = table[id * D + d]! + (pos ? pos.table[t * D + d]! : 0);
    }
  }
  return out;
}

/**
 * Backward of embeddingRef: dTable (V, D) = Σ over n with ids[n] = v of dout (N, D)[n];
 * dPos (T, D) = Σ_b dout[b·T + t] when T is given.
 */
export function embeddingBackwardRef(
  dout: ArrayLike<number>,
  ids: ArrayLike<number>,
  V: number,
  D: number,
  T?: number,
): { dTable: Float64Array; dPos: Float64Array | null } {
  const N = ids.length;
  const dTable = new Float64Array(V * D);
  for (let n = 0; n < N; n++) {
    for (let d = 0; d < D; d++) dTable[ids[n]! * D + d] += dout[n * D + d]!;
  }
  if (T === undefined) return { dTable, dPos: null };
  const dPos = new Float64Array(T * D);
  for (let n = 0; n < N; n++) {
    for (let d = 0; d < D; d++) dPos[(n % T) * D + d] += dout[n * D + d]!;
  }
  return { dTable, dPos };
}
