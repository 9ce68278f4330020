// The tolerance functions of kernels/*.ref.ts, judged by what a tolerance is for and not by its
// constants: (1) it must accept a correct float32 computation of the op — emulated here in float32
// (Math.fround after every operation), in the order a GPU kernel sums (each thread a run of terms one
// after another, then a pairwise tree of the runs), not the float64 reference's — at sizes where the
// float32 error grows (large counts, rows, steps); (2) it must refuse a wrong kernel: a max one
// float32 step off (a max copies a value: exact), a sum with one of its terms dropped (an error of a
// whole term, far above any rounding). The comparison is the kernel tests' own (compareClose:
// |got − want| ≤ atol + rtol·|want|). Nothing here repeats a bound's constant: a bound made tighter
// fails (1), one made looser fails (2).
import { describe, expect, it } from 'vitest';
import { reduceRowsRef, reduceTolerance } from '../../../kernels/reduce.ref.ts';
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
