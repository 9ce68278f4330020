// Bench cases of the pointwise family: add, gelu, addBias and the in-place residual add over n
// elements, in GB/s (bytes each operand is read + the output written, once).
import type { Gpu } from '../src/gpu/gpu.ts';
import { Rng } from '../src/util/prng.ts';
import { BenchInputError, parseList, parseSizes, printRows, runCases, sampleIndices, type BenchCase, type BenchContext, type BenchFamily } from './bench/harness.ts';
import { compareClose } from '../src/util/allclose.ts';
import { addBias, addInPlace, gelu, pointwise, pointwiseBytes } from './pointwise.ts';
import { POINTWISE_TOL, axpbyRef, geluRef } from './pointwise.ref.ts';

const CASES = ['add', 'gelu', 'addBias', 'residual'] as const;
type Case = (typeof CASES)[number];
/** addBias rows are this wide. */
const COLS = 1024;

function pointwiseCase(gpu: Gpu, which: Case, n: number, seed: number): BenchCase {
  const rng = new Rng(seed);
  const x = rng.floats(n, -4, 4);
  const y = which === 'addBias' ? rng.floats(COLS) : which === 'gelu' ? new Float32Array(0) : rng.floats(n);
  const X = gpu.upload(x, 'bench:x');
  const Y = y.length ? gpu.upload(y, 'bench:y') : gpu.unused;
  const Z = gpu.alloc(n, 'bench:z');
  const xr = { buffer: X, shape: [n] };
  const zr = { buffer: Z, shape: [n] };
  const idx = sampleIndices(rng, n);
  const record: Record<Case, () => void> = {
    add: () => pointwise(gpu, { op: 'axpby', x: xr, y: { buffer: Y, shape: [n] }, out: zr }),
    gelu: () => gelu(gpu, xr, zr),
    addBias: () => addBias(gpu, { buffer: X, shape: [n / COLS, COLS] }, { buffer: Y, shape: [COLS] }, { buffer: Z, shape: [n / COLS, COLS] }),
    // z = ½·z + y rather than z += y, so the timed repeats converge (to 2y) instead of growing.
    residual: () => addInPlace(gpu, zr, { buffer: Y, shape: [n] }, 0.5, 1),
  };
  const one = (i: number) => (which === 'add' ? axpbyRef([x[i]!], [y[i]!])[0]! : which === 'gelu' ? geluRef([x[i]!])[0]! : which === 'addBias' ? x[i]! + y[i % COLS]! : 0.5 * x[i]! + y[i]!);
  return {
    variant: which,
    shape: `${n}`,
    work: { bytes: which === 'addBias' ? pointwiseBytes('axpby', n, COLS) : pointwiseBytes(which === 'gelu' ? 'gelu' : 'axpby', n) },
    record: record[which],
    async validate() {
      // The residual add reads its output: it starts from x, everything else from poison.
      gpu.write(Z, which === 'residual' ? x : new Float32Array(n).fill(NaN));
      record[which]();
      const want = new Float64Array(n);
      for (const i of idx) want[i] = one(i);
      const r = compareClose(await gpu.read(Z, n), want, which === 'gelu' ? POINTWISE_TOL.gelu : POINTWISE_TOL.linear, idx);
      return { ok: r.ok, maxAbsError: r.maxAbsError, checked: r.count };
    },
    release() {
      for (const b of [X, Y, Z]) if (b !== gpu.unused) gpu.release(b);
    },
  };
}

export function* pointwiseCases(ctx: BenchContext): Generator<BenchCase> {
  const sizes = parseSizes(ctx.sizes ?? '1Mi,16Mi', ['n', 'RxC'], 'elements, like 16Mi, or rows x columns').map((d) => d.reduce((a, b) => a * b, 1));
  for (const n of sizes) if (n % COLS) throw new BenchInputError(`--sizes: pointwise wants multiples of ${COLS} elements (addBias rows are ${COLS} wide), got ${n}`);
  const which = parseList<Case>('variant', ctx.variant, CASES);
  for (const n of sizes) for (const c of which) yield pointwiseCase(ctx.gpu, c, n, ctx.seed);
}

export const pointwiseBench: BenchFamily = {
  name: 'pointwise',
  describe: 'add, gelu, addBias, in-place residual add; GB/s vs copyBufferToBuffer and the copy kernel',
  async run(ctx) {
    return printRows(ctx, await runCases(ctx, 'pointwise', pointwiseCases(ctx)), { variant: 'case', shape: 'shape' });
  },
};
