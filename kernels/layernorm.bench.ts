// Bench cases of the layernorm family: forward (x read, y written, plus γ, β, mean, rstd) and
// backward (x, dy read, dx written, dγ/dβ partials folded), validated against float64 on sampled
// rows of the very inputs timed (dγ, dβ need every row, so the backward checks dx only here; the
// tests check all three). GB/s per layernormBytes.
import type { Gpu } from '../src/gpu/gpu.ts';
import { compareClose } from '../src/util/allclose.ts';
import { Rng } from '../src/util/prng.ts';
import { parseList, parseSizes, printRows, rowSample, runCases, type BenchCase, type BenchContext, type BenchFamily } from './bench/harness.ts';
import { layernorm, layernormBackward, layernormBytes } from './layernorm.ts';
import { layernormBackwardRef, layernormRef, layernormTolerance } from './layernorm.ref.ts';

const CASES = ['fwd', 'bwd'] as const;
type Case = (typeof CASES)[number];

function layernormCase(gpu: Gpu, which: Case, [rows, cols]: [number, number], seed: number): BenchCase {
  const rng = new Rng(seed);
  const n = rows * cols;
  const x = rng.floats(n, -2, 2);
  const gamma = rng.floats(cols, 0.5, 1.5);
  const beta = rng.floats(cols);
  const dy = which === 'bwd' ? rng.floats(n) : new Float32Array(1);
  const [X, G, B, DY] = [gpu.upload(x, 'bench:x'), gpu.upload(gamma, 'bench:gamma'), gpu.upload(beta, 'bench:beta'), gpu.upload(dy, 'bench:dy')];
  const [Y, M, R, DG, DB] = [gpu.alloc(n, 'bench:y'), gpu.alloc(rows, 'bench:mean'), gpu.alloc(rows, 'bench:rstd'), gpu.alloc(cols, 'bench:dgamma'), gpu.alloc(cols, 'bench:dbeta')];
  const t = (buffer: GPUBuffer, shape: number[]) => ({ buffer, shape });
  const fwd = () => layernorm(gpu, { x: t(X, [rows, cols]), gamma: t(G, [cols]), beta: t(B, [cols]), y: t(Y, [rows, cols]), mean: t(M, [rows]), rstd: t(R, [rows]) });
  const bwd = () =>
    layernormBackward(gpu, { x: t(X, [rows, cols]), gamma: t(G, [cols]), mean: t(M, [rows]), rstd: t(R, [rows]), dy: t(DY, [rows, cols]), dx: t(Y, [rows, cols]), dgamma: t(DG, [cols]), dbeta: t(DB, [cols]) });
  const { rowsPicked, indices } = rowSample(rng, rows, cols);
  return {
    variant: which,
    shape: `${rows}x${cols}`,
    work: { bytes: layernormBytes(rows, cols, which) },
    record: which === 'fwd' ? fwd : bwd,
    async validate() {
      if (which === 'bwd') fwd(); // mean and rstd for the backward; Y is poisoned again for dx
      gpu.write(Y, new Float32Array(n).fill(NaN));
      (which === 'fwd' ? fwd : bwd)();
      const want = new Float64Array(n);
      for (const r of rowsPicked) {
        const xr = x.subarray(r * cols, (r + 1) * cols);
        const f = layernormRef(xr, gamma, beta, 1, cols);
        want.set(which === 'fwd' ? f.y : layernormBackwardRef(xr, gamma, f.mean, f.rstd, dy.subarray(r * cols, (r + 1) * cols), 1, cols).dx, r * cols);
      }
      const tol = layernormTolerance(rows, cols);
      const c = compareClose(await gpu.read(Y, n), want, which === 'fwd' ? tol.y : tol.dx, indices);
      return { ok: c.ok, maxAbsError: c.maxAbsError, checked: c.count };
    },
    release() {
      for (const b of [X, G, B, DY, Y, M, R, DG, DB]) gpu.release(b);
    },
  };
}

export function* layernormCases(ctx: BenchContext): Generator<BenchCase> {
  const which = parseList<Case>('variant', ctx.variant, CASES);
  for (const s of parseSizes(ctx.sizes ?? '1024x1024,16384x1024', ['RxC'], 'rows x columns') as [number, number][]) for (const c of which) yield layernormCase(ctx.gpu, c, s, ctx.seed);
}

export const layernormBench: BenchFamily = {
  name: 'layernorm',
  describe: 'layernorm forward and backward over rows; GB/s vs copyBufferToBuffer and the copy kernel',
  async run(ctx) {
    return printRows(ctx, await runCases(ctx, 'layernorm', layernormCases(ctx)), { variant: 'case', shape: 'shape' });
  },
};
