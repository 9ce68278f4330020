// Bench cases of the softmax family: forward (x read, y written) and backward (y, dy read, dx
// written) over [rows, cols], validated against float64 on sampled rows of the very inputs
// timed; GB/s per the napkin math in softmaxBytes, so it compares per byte with layernorm.
import type { Gpu } from '../src/gpu/gpu.ts';
import { compareClose } from '../src/util/allclose.ts';
import { Rng } from '../src/util/prng.ts';
import { parseList, parseSizes, printRows, rowSample, runCases, type BenchCase, type BenchContext, type BenchFamily } from './bench/harness.ts';
import { softmax, softmaxBackward } from './softmax.ts';
import { softmaxBackwardRef, softmaxRef, softmaxTolerance } from './softmax.ref.ts';

/** Bytes of one call: forward reads x and writes y; backward reads y and dy, writes dx. */
export const softmaxBytes = (n: number, pass: 'fwd' | 'bwd'): number => 4 * n * (pass === 'fwd' ? 2 : 3);

const CASES = ['fwd', 'bwd'] as const;
type Case = (typeof CASES)[number];

function softmaxCase(gpu: Gpu, which: Case, [rows, cols]: [number, number], seed: number): BenchCase {
  const rng = new Rng(seed);
  const n = rows * cols;
  const a = which === 'fwd' ? rng.floats(n, -4, 4) : new Float32Array(n);
  if (which === 'bwd') for (let r = 0; r < rows; r++) a.fill(1 / cols, r * cols, (r + 1) * cols); // a valid softmax output
  const dy = which === 'bwd' ? rng.floats(n) : new Float32Array(0);
  const A = gpu.upload(a, 'bench:in');
  const D = which === 'bwd' ? gpu.upload(dy, 'bench:dy') : gpu.unused;
  const O = gpu.alloc(n, 'bench:out');
  const shape = [rows, cols];
  const record = () =>
    which === 'fwd'
      ? softmax(gpu, { x: { buffer: A, shape }, y: { buffer: O, shape }, scale: 0.5 })
      : softmaxBackward(gpu, { y: { buffer: A, shape }, dy: { buffer: D, shape }, dx: { buffer: O, shape }, scale: 0.5 });
  const { rowsPicked, indices } = rowSample(rng, rows, cols);
  return {
    variant: which,
    shape: `${rows}x${cols}`,
    work: { bytes: softmaxBytes(n, which) },
    record,
    async validate() {
      gpu.write(O, new Float32Array(n).fill(NaN));
      record();
      const want = new Float64Array(n);
      for (const r of rowsPicked) {
        const part = (src: Float32Array) => src.subarray(r * cols, (r + 1) * cols);
        want.set(which === 'fwd' ? softmaxRef(part(a), 1, cols, 0.5) : softmaxBackwardRef(part(a), part(dy), 1, cols, 0.5), r * cols);
      }
      const tol = softmaxTolerance(cols);
      const c = compareClose(await gpu.read(O, n), want, which === 'fwd' ? tol.fwd : tol.bwd, indices);
      return { ok: c.ok, maxAbsError: c.maxAbsError, checked: c.count };
    },
    release() {
      for (const b of [A, D, O]) if (b !== gpu.unused) gpu.release(b);
    },
  };
}

export function* softmaxCases(ctx: BenchContext): Generator<BenchCase> {
  const which = parseList<Case>('variant', ctx.variant, CASES);
  for (const s of parseSizes(ctx.sizes ?? '1024x1024,16384x1024', ['RxC'], 'rows x columns') as [number, number][]) for (const c of which) yield softmaxCase(ctx.gpu, c, s, ctx.seed);
}

export const softmaxBench: BenchFamily = {
  name: 'softmax',
  describe: 'softmax forward and backward over rows; GB/s vs copyBufferToBuffer and the copy kernel (compare per byte with layernorm)',
  async run(ctx) {
    return printRows(ctx, await runCases(ctx, 'softmax', softmaxCases(ctx)), { variant: 'case', shape: 'shape' });
  },
};
