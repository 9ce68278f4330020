// Bench cases of the pooling family: max pool 3x3 / stride 2 / padding 1 (a ResNet stem's)
// forward and backward, global average pool forward and backward, in GB/s (poolBytes), each
// validated against the float64 reference on the very inputs it is then timed on.
import type { Gpu } from '../src/gpu/gpu.ts';
import { compareClose } from '../src/util/allclose.ts';
import { Rng } from '../src/util/prng.ts';
import { parseList, parseSizes, printRows, runCases, sampleIndices, type BenchCase, type BenchContext, type BenchFamily } from './bench/harness.ts';
import { globalAvgPool, globalAvgPoolBackward, maxPool2d, maxPool2dBackward, maxPool2dDims, poolBytes } from './pool.ts';
import { POOL_TOL, globalAvgPoolBackwardRef, globalAvgPoolRef, maxPoolBackwardRef, maxPoolRef } from './pool.ref.ts';

const CASES = ['max', 'maxBwd', 'gap', 'gapBwd'] as const;
type Case = (typeof CASES)[number];
const GEO = { kernel: 3, stride: 2, padding: 1 } as const;

function poolCase(gpu: Gpu, which: Case, [B, C, H, W]: [number, number, number, number], seed: number): BenchCase {
  const rng = new Rng(seed);
  const d = maxPool2dDims('bench pool', [B, C, H, W], GEO);
  const planes = B * C;
  const nx = planes * H * W;
  const ny = which.startsWith('max') ? planes * d.OH * d.OW : planes;
  const x = rng.floats(nx);
  const dy = rng.floats(ny);
  const [X, DY] = [gpu.upload(x, 'bench:x'), gpu.upload(dy, 'bench:dy')];
  const [Y, I, DX] = [gpu.alloc(ny, 'bench:y'), gpu.alloc(ny, 'bench:idx'), gpu.alloc(nx, 'bench:dx')];
  const xs = [B, C, H, W];
  const ys = which.startsWith('max') ? [B, C, d.OH, d.OW] : [B, C];
  const t = (buffer: GPUBuffer, shape: number[]) => ({ buffer, shape });
  const fwd = () => (which.startsWith('max') ? maxPool2d(gpu, { x: t(X, xs), y: t(Y, ys), indices: t(I, ys), ...GEO }) : globalAvgPool(gpu, { x: t(X, xs), y: t(Y, ys) }));
  const record: Record<Case, () => void> = {
    max: fwd,
    maxBwd: () => maxPool2dBackward(gpu, { dy: t(DY, ys), indices: t(I, ys), dx: t(DX, xs), ...GEO }),
    gap: fwd,
    gapBwd: () => globalAvgPoolBackward(gpu, { dy: t(DY, ys), dx: t(DX, xs) }),
  };
  const out = which === 'max' || which === 'gap' ? Y : DX;
  const n = out === Y ? ny : nx;
  const refDims = { planes, H, W, KH: 3, KW: 3, sh: 2, sw: 2, ph: 1, pw: 1 };
  return {
    variant: which,
    shape: `${B}x${C}x${H}x${W}`,
    work: { bytes: poolBytes(({ max: 'maxFwd', maxBwd: 'maxBwd', gap: 'gapFwd', gapBwd: 'gapBwd' } as const)[which], which.endsWith('Bwd') ? ny : nx, which.endsWith('Bwd') ? nx : ny) },
    record: record[which],
    async validate() {
      if (which === 'maxBwd') fwd(); // the indices
      gpu.write(out, new Float32Array(n).fill(NaN));
      record[which]();
      const want =
        which === 'max' ? maxPoolRef(x, refDims).y
        : which === 'maxBwd' ? maxPoolBackwardRef(maxPoolRef(x, refDims).idx, dy, refDims)
        : which === 'gap' ? globalAvgPoolRef(x, planes, H * W)
        : globalAvgPoolBackwardRef(dy, planes, H * W);
      const tol = which === 'max' ? POOL_TOL.exact : which === 'gap' ? POOL_TOL.avg(H * W) : POOL_TOL.maxDx;
      const idx = sampleIndices(rng, n);
      const c = compareClose(await gpu.read(out, n), want, tol, idx);
      return { ok: c.ok, maxAbsError: c.maxAbsError, checked: c.count };
    },
    release() {
      for (const b of [X, DY, Y, I, DX]) gpu.release(b);
    },
  };
}

export function* poolCases(ctx: BenchContext): Generator<BenchCase> {
  const which = parseList<Case>('variant', ctx.variant, CASES);
  const sizes = parseSizes(ctx.sizes ?? (ctx.gpu.software ? '8x64x56x56' : '32x64x112x112'), ['BxCxHxW'], 'batch x channels x height x width') as [number, number, number, number][];
  for (const s of sizes) for (const c of which) yield poolCase(ctx.gpu, c, s, ctx.seed);
}

export const poolBench: BenchFamily = {
  name: 'pool',
  describe: 'max pool 3x3/2 pad 1 and global average pool, forward and backward; GB/s vs copyBufferToBuffer and the copy kernel',
  async run(ctx) {
    return printRows(ctx, await runCases(ctx, 'pool', poolCases(ctx)), { variant: 'case', shape: 'x (B x C x H x W)' });
  },
};
