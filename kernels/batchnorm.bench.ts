// Bench cases of the batch norm family: training forward (statistics, running update, apply),
// inference forward, training backward (dx, dγ, dβ), in GB/s (batchnormBytes), each validated
// against the float64 reference on the very inputs it is then timed on.
import type { Gpu } from '../src/gpu/gpu.ts';
import { compareClose } from '../src/util/allclose.ts';
import { Rng } from '../src/util/prng.ts';
import { parseList, parseSizes, printRows, runCases, sampleIndices, type BenchCase, type BenchContext, type BenchFamily } from './bench/harness.ts';
import { batchnorm, batchnormBackward, batchnormBytes } from './batchnorm.ts';
import { batchnormBackwardRef, batchnormRef, batchnormTolerance } from './batchnorm.ref.ts';

const CASES = ['train', 'eval', 'bwd'] as const;
type Case = (typeof CASES)[number];

function batchnormCase(gpu: Gpu, which: Case, [B, C, H, W]: [number, number, number, number], seed: number): BenchCase {
  const rng = new Rng(seed);
  const S = H * W;
  const total = B * C * S;
  const x = rng.floats(total, -2, 2);
  const gamma = rng.floats(C, 0.5, 1.5);
  const beta = rng.floats(C);
  const rm = rng.floats(C);
  const rv = rng.floats(C, 0.5, 2);
  const dy = rng.floats(total);
  const [X, G, Be, RM, RV, DY] = [gpu.upload(x, 'bench:x'), gpu.upload(gamma, 'bench:gamma'), gpu.upload(beta, 'bench:beta'), gpu.upload(rm, 'bench:rm'), gpu.upload(rv, 'bench:rv'), gpu.upload(dy, 'bench:dy')];
  const [Y, M, R, DX, DG, DB] = [gpu.alloc(total, 'bench:y'), gpu.alloc(C, 'bench:mean'), gpu.alloc(C, 'bench:rstd'), gpu.alloc(total, 'bench:dx'), gpu.alloc(C, 'bench:dgamma'), gpu.alloc(C, 'bench:dbeta')];
  const xs = [B, C, H, W];
  const t = (buffer: GPUBuffer, shape: number[]) => ({ buffer, shape });
  const fwd = (training: boolean) => () =>
    batchnorm(gpu, { x: t(X, xs), gamma: t(G, [C]), beta: t(Be, [C]), y: t(Y, xs), mean: t(M, [C]), rstd: t(R, [C]), training, runningMean: t(RM, [C]), runningVar: t(RV, [C]) });
  const bwd = () => batchnormBackward(gpu, { x: t(X, xs), gamma: t(G, [C]), mean: t(M, [C]), rstd: t(R, [C]), dy: t(DY, xs), training: true, dx: t(DX, xs), dgamma: t(DG, [C]), dbeta: t(DB, [C]) });
  const record = which === 'bwd' ? bwd : fwd(which === 'train');
  const out = which === 'bwd' ? DX : Y;
  return {
    variant: which,
    shape: `${B}x${C}x${H}x${W}`,
    work: { bytes: batchnormBytes(total, which) },
    record,
    async validate() {
      // The running statistics drift while timed; validation sees them fresh.
      gpu.write(RM, rm);
      gpu.write(RV, rv);
      if (which === 'bwd') fwd(true)();
      gpu.write(out, new Float32Array(total).fill(NaN));
      record();
      const f = batchnormRef(x, gamma, beta, B, C, S, { training: which !== 'eval', runningMean: rm, runningVar: rv });
      const want = which === 'bwd' ? batchnormBackwardRef(x, gamma, f.mean, f.rstd, dy, B, C, S, true).dx : f.y;
      const tol = batchnormTolerance(B * S);
      const c = compareClose(await gpu.read(out, total), want, which === 'bwd' ? tol.dx : tol.y, sampleIndices(rng, total));
      return { ok: c.ok, maxAbsError: c.maxAbsError, checked: c.count };
    },
    release() {
      for (const b of [X, G, Be, RM, RV, DY, Y, M, R, DX, DG, DB]) gpu.release(b);
    },
  };
}

export function* batchnormCases(ctx: BenchContext): Generator<BenchCase> {
  const which = parseList<Case>('variant', ctx.variant, CASES);
  const sizes = parseSizes(ctx.sizes ?? (ctx.gpu.software ? '8x64x56x56' : '32x64x112x112'), ['BxCxHxW'], 'batch x channels x height x width') as [number, number, number, number][];
  for (const s of sizes) for (const c of which) yield batchnormCase(ctx.gpu, c, s, ctx.seed);
}

export const batchnormBench: BenchFamily = {
  name: 'batchnorm',
  describe: 'batch norm training and inference forward, training backward; GB/s vs copyBufferToBuffer and the copy kernel',
  async run(ctx) {
    return printRows(ctx, await runCases(ctx, 'batchnorm', batchnormCases(ctx)), { variant: 'case', shape: 'x (B x C x H x W)' });
  },
};
