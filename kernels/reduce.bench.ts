// Bench cases of the reduce family: per-row sums, column sums (the bias-gradient shape) and the
// whole-tensor sum of squares (global gradient norm), each validated against float64 on the
// inputs it is then timed on; GB/s counts the input read once and the outputs written once.
import type { Gpu } from '../src/gpu/gpu.ts';
import { Rng } from '../src/util/prng.ts';
import { BenchInputError, parseList, type BenchContext, type BenchFamily } from '../src/bench/family.ts';
import { bandwidthCase, parseCounts, printBandwidthTable, sampleIndices, type BandwidthRow } from './pointwise.bench.ts';
import { reduceAll, reduceBytes, reduceColumns, reduceRows } from './reduce.ts';
import { reduceTolerance } from './reduce.ref.ts';

const CASES = ['rows-sum', 'cols-sum', 'all-sumsq'] as const;
type Case = (typeof CASES)[number];

async function reduceCase(gpu: Gpu, which: Case, [rows, cols]: [number, number], ctx: BenchContext): Promise<BandwidthRow> {
  const rng = new Rng(ctx.seed);
  const n = rows * cols;
  const x = rng.floats(n);
  const X = gpu.upload(x, 'bench:x');
  const outN = which === 'rows-sum' ? rows : which === 'cols-sum' ? cols : 1;
  const O = gpu.alloc(outN, 'bench:out');
  gpu.write(O, new Float32Array(outN).fill(NaN));
  const xr = { buffer: X, shape: [rows, cols] };
  const or = { buffer: O, shape: [outN] };
  const record = () => (which === 'rows-sum' ? reduceRows(gpu, 'sum', xr, or) : which === 'cols-sum' ? reduceColumns(gpu, 'sum', xr, or) : reduceAll(gpu, 'sumsq', xr, or));
  const idx = sampleIndices(rng, outN, 256);
  const want = (): Float64Array => {
    const w = new Float64Array(outN);
    for (const i of idx) {
      let s = 0;
      if (which === 'rows-sum') for (let c = 0; c < cols; c++) s += x[i * cols + c]!;
      else if (which === 'cols-sum') for (let r = 0; r < rows; r++) s += x[r * cols + i]!;
      else for (let j = 0; j < n; j++) s += x[j]! * x[j]!;
      w[i] = s;
    }
    return w;
  };
  const count = which === 'rows-sum' ? cols : which === 'cols-sum' ? rows : n;
  const row = await bandwidthCase(
    gpu,
    { family: 'reduce', case: which, shape: `${rows}x${cols}`, bytes: reduceBytes(n, outN), runs: ctx.runs },
    record,
    async () => ({ got: await gpu.read(O, outN), want: want(), tol: reduceTolerance(which === 'all-sumsq' ? 'sumsq' : 'sum', count), indices: idx }),
  );
  gpu.release(X);
  gpu.release(O);
  return row;
}

export const reduceBench: BenchFamily = {
  name: 'reduce',
  describe: 'row sums, column sums, whole-tensor sum of squares; GB/s vs copyBufferToBuffer and the copy kernel',
  async run(ctx) {
    const shapes = parseCounts(ctx.sizes ?? '1024x1024,16384x1024').map((d) => {
      if (d.length !== 2) throw new BenchInputError(`--sizes: reduce wants RxC shapes, got ${d.join('x')}`);
      return d as [number, number];
    });
    const cases = parseList<Case>('variant', ctx.variant, CASES);
    const rows: BandwidthRow[] = [];
    for (const s of shapes) for (const c of cases) rows.push(await reduceCase(ctx.gpu, c, s, ctx));
    return printBandwidthTable(ctx, rows);
  },
};
