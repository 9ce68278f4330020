// Bench cases of the reduce family: per-row sums, column sums (the bias-gradient shape) and the
// whole-tensor sum of squares (global gradient norm), each validated against float64 on the
// inputs it is then timed on; GB/s counts the input read once and the outputs written once.
import type { Gpu } from '../src/gpu/gpu.ts';
import { compareClose } from '../src/util/allclose.ts';
import { Rng } from '../src/util/prng.ts';
import { parseList, parseSizes, printRows, runCases, sampleIndices, type BenchCase, type BenchContext, type BenchFamily } from './bench/harness.ts';
import { reduceAll, reduceBytes, reduceColumns, reduceRows } from './reduce.ts';
import { reduceAllRef, reduceColumnsRef, reduceRowsRef, reduceTolerance } from './reduce.ref.ts';

const CASES = ['rows-sum', 'cols-sum', 'all-sumsq'] as const;
type Case = (typeof CASES)[number];

function reduceCase(gpu: Gpu, which: Case, [rows, cols]: [number, number], seed: number): BenchCase {
  const rng = new Rng(seed);
  const n = rows * cols;
  const x = rng.floats(n);
  const X = gpu.upload(x, 'bench:x');
  const outN = which === 'rows-sum' ? rows : which === 'cols-sum' ? cols : 1;
  const O = gpu.alloc(outN, 'bench:out');
  const xr = { buffer: X, shape: [rows, cols] };
  const or = { buffer: O, shape: [outN] };
  const record = () => (which === 'rows-sum' ? reduceRows(gpu, 'sum', xr, or) : which === 'cols-sum' ? reduceColumns(gpu, 'sum', xr, or) : reduceAll(gpu, 'sumsq', xr, or));
  const idx = sampleIndices(rng, outN, 256);
  const want = (): Float64Array => {
    if (which === 'cols-sum') return reduceColumnsRef('sum', x, rows, cols);
    if (which === 'all-sumsq') return reduceAllRef('sumsq', x);
    const w = new Float64Array(outN);
    for (const i of idx) w[i] = reduceRowsRef('sum', x.subarray(i * cols, (i + 1) * cols), 1, cols)[0]!;
    return w;
  };
  const count = which === 'rows-sum' ? cols : which === 'cols-sum' ? rows : n;
  return {
    variant: which,
    shape: `${rows}x${cols}`,
    work: { bytes: reduceBytes(n, outN) },
    record,
    async validate() {
      gpu.write(O, new Float32Array(outN).fill(NaN));
      record();
      const c = compareClose(await gpu.read(O, outN), want(), reduceTolerance(which === 'all-sumsq' ? 'sumsq' : 'sum', count), idx);
      return { ok: c.ok, maxAbsError: c.maxAbsError, checked: c.count };
    },
    release() {
      gpu.release(X);
      gpu.release(O);
    },
  };
}

export function* reduceCases(ctx: BenchContext): Generator<BenchCase> {
  const which = parseList<Case>('variant', ctx.variant, CASES);
  for (const s of parseSizes(ctx.sizes ?? '1024x1024,16384x1024', ['RxC'], 'rows x columns') as [number, number][]) for (const c of which) yield reduceCase(ctx.gpu, c, s, ctx.seed);
}

export const reduceBench: BenchFamily = {
  name: 'reduce',
  describe: 'row sums, column sums, whole-tensor sum of squares; GB/s vs copyBufferToBuffer and the copy kernel',
  async run(ctx) {
    return printRows(ctx, await runCases(ctx, 'reduce', reduceCases(ctx)), { variant: 'case', shape: 'shape' });
  },
};
