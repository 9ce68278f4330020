// Bench cases of the conv2d family: each pass (forward, dx, dw + dbias), in the variant
// chooseConv2dVariant picks for it, validated against the
// float64 reference on the very inputs it is then timed on, in GFLOP/s, each followed in the same
// run by the matmul family (the variant it would pick) at the same implicit-GEMM shape on
// random operands: the "× matmul" column is what the gathers cost against a GEMM whose operands
// are already laid out.
import type { Gpu } from '../src/gpu/gpu.ts';
import { compareClose } from '../src/util/allclose.ts';
import { Rng } from '../src/util/prng.ts';
import { BenchInputError, fmt, parseList, printRows, runCases, sampleIndices, type BenchCase, type BenchContext, type BenchFamily } from './bench/harness.ts';
import { chooseConv2dVariant, conv2d, conv2dBackward, conv2dDims, conv2dFlops, conv2dGemm, type Conv2dDims } from './conv2d.ts';
import { conv2dBackwardRef, conv2dRef, conv2dTolerance } from './conv2d.ref.ts';
import { chooseMatmulVariant } from './matmul.ts';
import { matmulCase } from './matmul.bench.ts';

const PASSES = ['fwd', 'dx', 'dw'] as const;
type Pass = (typeof PASSES)[number];

/** B, Cin, H, W, Cout, kernel, stride, padding (square). */
type Size = [number, number, number, number, number, number, number, number];

const gemmText = (g: { M: number; N: number; K: number }) => `${g.M}x${g.N}x${g.K}`;

function convCase(gpu: Gpu, pass: Pass, s: Size, seed: number): BenchCase<{ gemm: string }> {
  const [B, Cin, H, W, Cout, k, stride, padding] = s;
  const d: Conv2dDims = conv2dDims('bench conv2d', [B, Cin, H, W], [Cout, Cin, k, k], { stride, padding });
  const rng = new Rng(seed);
  const nx = B * Cin * H * W;
  const nw = Cout * Cin * k * k;
  const ny = B * Cout * d.OH * d.OW;
  const x = rng.floats(nx);
  const w = rng.floats(nw);
  const bias = rng.floats(Cout);
  const dy = pass === 'fwd' ? new Float32Array(1) : rng.floats(ny);
  const [X, Wt, Bi, DY] = [gpu.upload(x, 'bench:x'), gpu.upload(w, 'bench:w'), gpu.upload(bias, 'bench:bias'), gpu.upload(dy, 'bench:dy')];
  const n = pass === 'fwd' ? ny : pass === 'dx' ? nx : nw + Cout;
  const OUT = gpu.alloc(n, 'bench:out');
  const gemm = conv2dGemm(d, pass);
  const geo = { stride, padding };
  const xr = { buffer: X, shape: [B, Cin, H, W] };
  const wr = { buffer: Wt, shape: [Cout, Cin, k, k] };
  const dyr = { buffer: DY, shape: [B, Cout, d.OH, d.OW] };
  const record = {
    fwd: () => conv2d(gpu, { x: xr, w: wr, bias: { buffer: Bi, shape: [Cout] }, y: { buffer: OUT, shape: dyr.shape }, ...geo }),
    dx: () => conv2dBackward(gpu, { x: xr, w: wr, dy: dyr, dx: { buffer: OUT, shape: xr.shape }, ...geo }),
    // dbias right after dw, as a parameter arena holds them.
    dw: () => conv2dBackward(gpu, { x: xr, w: wr, dy: dyr, dw: { buffer: OUT, shape: wr.shape }, dbias: { buffer: OUT, shape: [Cout], offset: nw }, ...geo }),
  }[pass];
  return {
    variant: `${pass} ${chooseConv2dVariant(gpu, gemm.M)}`,
    shape: `${B}x${Cin}x${H}x${W} k${k} s${stride} p${padding} → ${Cout}`,
    work: { flops: conv2dFlops(d) },
    record,
    async validate() {
      gpu.write(OUT, new Float32Array(n).fill(NaN));
      record();
      const got = await gpu.read(OUT, n, 0, 'bench:conv2d:validate');
      const dims = { B, Cin, H, W, Cout, KH: k, KW: k, sh: stride, sw: stride, ph: padding, pw: padding };
      let want: Float64Array;
      if (pass === 'fwd') want = conv2dRef(x, w, bias, dims);
      else {
        const r = conv2dBackwardRef(x, w, dy, dims);
        want = pass === 'dx' ? r.dx : Float64Array.from([...r.dw, ...r.dbias]);
      }
      const idx = sampleIndices(rng, n);
      const c = compareClose(got, want, conv2dTolerance(gemm.K), idx);
      return { ok: c.ok, maxAbsError: c.maxAbsError, checked: c.count, gemm: gemmText(gemm) };
    },
    release() {
      for (const b of [X, Wt, Bi, DY, OUT]) gpu.release(b);
    },
  };
}

const gemmOf = (pass: Pass, [B, Cin, H, W, Cout, k, stride, padding]: Size) => conv2dGemm(conv2dDims('bench conv2d', [B, Cin, H, W], [Cout, Cin, k, k], { stride, padding }), pass);

/** Whether the matmul's operands at this GEMM shape fit the adapter's storage bindings (the conv never lays them out). */
function gemmFits(gpu: Gpu, g: { M: number; N: number; K: number }): boolean {
  return 4 * Math.max(g.M * g.K, g.K * g.N, g.M * g.N) <= gpu.limits.maxStorageBufferBindingSize;
}

/** The matmul family at a pass's implicit-GEMM shape, with the variant it would pick there. */
function gemmCase(gpu: Gpu, pass: Pass, s: Size, seed: number): BenchCase<{ gemm: string }> {
  const g = gemmOf(pass, s);
  const v = chooseMatmulVariant(gpu, g.M, g.N, g.K);
  const c = matmulCase(gpu, v, 'NN', [g.M, g.N, g.K], seed);
  return {
    ...c,
    variant: `matmul ${v} (${pass} GEMM)`,
    async validate() {
      return { ...(await c.validate()), gemm: gemmText(g) };
    },
  };
}

const SIZE_FORM = 'BxCxHxWxOxKxSxP (batch x in channels x height x width x out channels x kernel x stride x padding)';

/** --sizes as BxCxHxWxOxKxSxP, each a positive whole number but the padding, which may be 0. */
export function parseConvSizes(text: string): Size[] {
  return text.split(',').map((tok) => {
    const d = tok.trim().split('x').map((v) => (/^\d+$/.test(v.trim()) ? Number(v) : NaN));
    if (d.length !== 8) throw new BenchInputError(`--sizes: "${tok.trim()}" is not ${SIZE_FORM}`);
    if (d.some((v, i) => !Number.isInteger(v) || v < (i === 7 ? 0 : 1))) throw new BenchInputError(`--sizes: "${tok.trim()}" needs positive whole numbers (the padding may be 0) in ${SIZE_FORM}`);
    const s = d as Size;
    try {
      conv2dDims('conv2d', [s[0], s[1], s[2], s[3]], [s[4], s[1], s[5], s[5]], { stride: s[6], padding: s[7] });
    } catch (e) {
      throw new BenchInputError(`--sizes: "${tok.trim()}": ${(e as Error).message.replace(/^conv2d: /, '')}`);
    }
    return s;
  });
}

export function* conv2dCases(ctx: BenchContext): Generator<BenchCase<{ gemm: string }>> {
  const passes = parseList<Pass>('variant', ctx.variant, PASSES);
  // A ResNet stage's 3x3 layer, its downsampling one, and a stem.
  const dflt = ctx.gpu.software ? '8x64x28x28x64x3x1x1,8x64x28x28x128x3x2x1,8x3x64x64x32x7x2x3' : '32x64x56x56x64x3x1x1,32x256x14x14x256x3x1x1,32x3x224x224x64x7x2x3';
  for (const s of parseConvSizes(ctx.sizes ?? dflt)) {
    for (const p of passes) {
      yield convCase(ctx.gpu, p, s, ctx.seed);
      if (gemmFits(ctx.gpu, gemmOf(p, s))) yield gemmCase(ctx.gpu, p, s, ctx.seed);
      else console.log(`  matmul at the ${p} GEMM ${gemmText(gemmOf(p, s))}: an operand is over the storage-binding limit, no row`);
    }
  }
}

export const conv2dBench: BenchFamily = {
  name: 'conv2d',
  describe: 'NCHW conv2d forward, dx, dw+dbias as implicit GEMMs; GFLOP/s vs the FMA ceiling and the matmul at the same GEMM shape',
  async run(ctx) {
    const rows = await runCases(ctx, 'conv2d', conv2dCases(ctx));
    // Each conv row is followed by its matmul row.
    const vsMatmul = (r: (typeof rows)[number]) => {
      const i = rows.indexOf(r);
      const next = rows[i + 1];
      return r.variant.startsWith('matmul') || !next?.variant.startsWith('matmul') ? '' : fmt(r.rate / next.rate, 2);
    };
    return printRows(ctx, rows, { variant: 'pass', shape: 'x (B x C x H x W), kernel, stride, padding → Cout' }, [
      { head: 'GEMM M x N x K', cell: (r) => r.gemm },
      { head: '× matmul', cell: vsMatmul },
    ]);
  },
};
