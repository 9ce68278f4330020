// Comparison of a computed array against a float64 reference, used by tests and by `coca bench`
// (which validates each kernel before timing it). An element passes when
// |got - want| <= atol + rtol·|want|; NaN never passes, so outputs poisoned with NaN before a run
// catch elements a kernel never wrote.

export interface CloseReport {
  ok: boolean;
  count: number;
  mismatches: number;
  maxAbsError: number;
  maxRelError: number;
  /** The first few mismatches, as "i: got vs want". */
  first: string[];
}

export interface Tolerance {
  atol: number;
  rtol: number;
}

export function compareClose(got: ArrayLike<number>, want: ArrayLike<number>, tol: Tolerance, indices?: ArrayLike<number>): CloseReport {
  const n = indices ? indices.length : want.length;
  if (!indices && got.length < want.length) {
    return { ok: false, count: want.length, mismatches: want.length, maxAbsError: Infinity, maxRelError: Infinity, first: [`length ${got.length} < ${want.length}`] };
  }
  let mismatches = 0;
  let maxAbs = 0;
  let maxRel = 0;
  const first: string[] = [];
  for (let j = 0; j < n; j++) {
    const i = indices ? indices[j]! : j;
    const g = got[i]!;
    const w = want[i]!;
    const err = Math.abs(g - w);
    const bad = !(err <= tol.atol + tol.rtol * Math.abs(w)); // NaN compares false
    if (!Number.isNaN(err)) {
      maxAbs = Math.max(maxAbs, err);
      maxRel = Math.max(maxRel, err / Math.max(Math.abs(w), 1e-30));
    } else {
      maxAbs = Infinity;
      maxRel = Infinity;
    }
    if (bad) {
      mismatches++;
      if (first.length < 5) first.push(`[${i}]: got ${g} want ${w}`);
    }
  }
  return { ok: mismatches === 0, count: n, mismatches, maxAbsError: maxAbs, maxRelError: maxRel, first };
}

export function describeReport(r: CloseReport): string {
  return `${r.mismatches}/${r.count} mismatches, max abs error ${r.maxAbsError.toExponential(2)}, max rel error ${r.maxRelError.toExponential(2)}` +
    (r.first.length ? `; first: ${r.first.join('; ')}` : '');
}
