import { appendFileSync } from 'node:fs';
import { expect } from 'vitest';
import { compareClose, describeReport, type Tolerance } from '../../src/util/allclose.ts';

/** Asserts got ≈ want elementwise; the failure message has max errors and the first mismatches. */
export function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, tol: Tolerance, what = 'result'): void {
  expect(got.length, `${what}: length`).toBeGreaterThanOrEqual(want.length);
  const r = compareClose(got, want, tol);
  if (process.env.COCA_TOL_LOG) logWorstRatio(got, want, tol, what);
  if (!r.ok) expect.fail(`${what}: ${describeReport(r)}`);
}

/**
 * COCA_TOL_LOG=<file> (scripts/tolerance-sweep.ts): one line per comparison with its largest
 * |got − want| / (atol + rtol·|want|), passing or not, so a sweep over seeds shows how close each
 * check comes to its tolerance, not only whether it failed.
 */
function logWorstRatio(got: ArrayLike<number>, want: ArrayLike<number>, tol: Tolerance, what: string): void {
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i]! - want[i]!);
    const ratio = Number.isNaN(err) ? Infinity : err === 0 ? 0 : err / (tol.atol + tol.rtol * Math.abs(want[i]!));
    if (ratio > worst) worst = ratio;
  }
  const s = expect.getState();
  const file = (s.testPath ?? '').replace(/^.*?\/test\//, 'test/');
  appendFileSync(process.env.COCA_TOL_LOG!, `${process.env.COCA_SEED ?? ''}\t${file}\t${what.replace(/\s+/g, ' ')}\t${worst}\n`);
}
