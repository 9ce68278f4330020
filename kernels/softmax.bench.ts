// Bench cases of the softmax family: forward (x read, y written) and backward (y, dy read, dx
// written) over [rows, cols], validated against float64 on sampled rows of the very inputs
// timed; GB/s per the napkin math in softmaxBytes, so it compares per byte with layernorm.
import type { Gpu } from '../src/gpu/gpu.ts';
import { Rng } from '../src/util/prng.ts';
import { BenchInputError, parseList, type BenchContext, type BenchFamily } from '../src/bench/family.ts';
import { bandwidthCase, parseCounts, printBandwidthTable, sampleIndices, type BandwidthRow } from './pointwise.bench.ts';
import { softmax, softmaxBackward } from './softmax.ts';
import { softmaxBackwardRef, softmaxRef, softmaxTolerance } from './softmax.ref.ts';

/** Bytes of one call: forward reads x and writes y; backward reads y and dy, writes dx. */
export const softmaxBytes = (n: number, pass: 'fwd' | 'bwd'): number => 4 * n * (pass === 'fwd' ? 2 : 3);

const CASES = ['fwd', 'bwd'] as const;
type Case = (typeof CASES)[number];

/** Checks the sampled rows only: the reference of a whole 16 Mi matrix would dominate the run. */
export function rowSample(rng: Rng, rows: number, cols: number): { rowsPicked: number[]; indices: number[] } {
  const rowsPicked = sampleIndices(rng, rows, 16);
  return { rowsPicked, indices: rowsPicked.flatMap((r) => Array.from({ length: cols }, (_, c) => r * cols + c)) };
}

async function softmaxCase(gpu: Gpu, which: Case, [rows, cols]: [number, number], ctx: BenchContext): Promise<BandwidthRow> {
  const rng = new Rng(ctx.seed);
  const n = rows * cols;
  const a = which === 'fwd' ? rng.floats(n, -4, 4) : new Float32Array(n);
  if (which === 'bwd') for (let r = 0; r < rows; r++) a.fill(1 / cols, r * cols, (r + 1) * cols); // a valid softmax output
  const dy = which === 'bwd' ? rng.floats(n) : new Float32Array(0);
  const A = gpu.upload(a, 'bench:in');
  const D = which === 'bwd' ? gpu.upload(dy, 'bench:dy') : gpu.unused;
  const O = gpu.alloc(n, 'bench:out');
  gpu.write(O, new Float32Array(n).fill(NaN));
  const shape = [rows, cols];
  const record = () =>
    which === 'fwd'
      ? softmax(gpu, { x: { buffer: A, shape }, y: { buffer: O, shape }, scale: 0.5 })
      : softmaxBackward(gpu, { y: { buffer: A, shape }, dy: { buffer: D, shape }, dx: { buffer: O, shape }, scale: 0.5 });
  const { rowsPicked, indices } = rowSample(rng, rows, cols);
  const want = (): Float64Array => {
    const w = new Float64Array(n);
    for (const r of rowsPicked) {
      const part = (src: Float32Array) => src.subarray(r * cols, (r + 1) * cols);
      w.set(which === 'fwd' ? softmaxRef(part(a), 1, cols, { scale: 0.5 }) : softmaxBackwardRef(part(a), part(dy), 1, cols, 0.5), r * cols);
    }
    return w;
  };
  const tol = softmaxTolerance(cols);
  const row = await bandwidthCase(gpu, { family: 'softmax', case: which, shape: `${rows}x${cols}`, bytes: softmaxBytes(n, which), runs: ctx.runs }, record, async () => ({
    got: await gpu.read(O, n),
    want: want(),
    tol: which === 'fwd' ? tol.fwd : tol.bwd,
    indices,
  }));
  for (const b of [A, D, O]) if (b !== gpu.unused) gpu.release(b);
  return row;
}

export function parseRowShapes(ctx: BenchContext, family: string): [number, number][] {
  return parseCounts(ctx.sizes ?? '1024x1024,16384x1024').map((d) => {
    if (d.length !== 2) throw new BenchInputError(`--sizes: ${family} wants RxC shapes, got ${d.join('x')}`);
    return d as [number, number];
  });
}

export const softmaxBench: BenchFamily = {
  name: 'softmax',
  describe: 'softmax forward and backward over rows; GB/s vs copyBufferToBuffer and the copy kernel (compare per byte with layernorm)',
  async run(ctx) {
    const cases = parseList<Case>('variant', ctx.variant, CASES);
    const rows: BandwidthRow[] = [];
    for (const s of parseRowShapes(ctx, 'softmax')) for (const c of cases) rows.push(await softmaxCase(ctx.gpu, c, s, ctx));
    return printBandwidthTable(ctx, rows);
  },
};
