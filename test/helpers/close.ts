import { expect } from 'vitest';
import { compareClose, describeReport, type Tolerance } from '../../src/util/allclose.ts';

/** Asserts got ≈ want elementwise; the failure message has max errors and the first mismatches. */
export function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, tol: Tolerance, what = 'result'): void {
  expect(got.length, `${what}: length`).toBeGreaterThanOrEqual(want.length);
  const r = compareClose(got, want, tol);
  if (!r.ok) expect.fail(`${what}: ${describeReport(r)}`);
}
