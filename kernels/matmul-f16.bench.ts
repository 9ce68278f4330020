// Bench cases of the mixed-precision products (kernels/matmul-f16.ts), `coca bench matmul-f16`:
// a linear's forward y = x·Wᵀ at f32 (the variant the heuristic picks) and at f16 (the kernel
// mixed precision picks, W stored as f16 where it reads halves), side by side in one run, each
// validated against float64 (of the f16-rounded inputs for f16) on the inputs it is timed on.
import type { Gpu } from '../src/gpu/gpu.ts';
import { compareClose } from '../src/util/allclose.ts';
import { Rng } from '../src/util/prng.ts';
import { parseSizes, printRows, runCases, sampleIndices, type BenchCase, type BenchFamily } from './bench/harness.ts';
import { castToF16, chooseMatmulF16Kernel, halfBufferFloats, matmulF16, matmulF16ReadsHalves } from './matmul-f16.ts';
import { chooseMatmulVariant, matmul, matmulFlops } from './matmul.ts';
import { matmulRefElement, matmulTolerance } from './matmul.ref.ts';
import { f16RoundAll } from './f16.ref.ts';

/** y = x·Wᵀ, x [M, K], W [N, K]: at f32 (the heuristic's variant) or f16 (W's f16 copy). */
function productCase(gpu: Gpu, half: boolean, [M, N, K]: [number, number, number], seed: number): BenchCase {
  const rng = new Rng(seed);
  const x = rng.floats(M * K);
  const w = rng.floats(N * K);
  const X = gpu.upload(x, 'bench:x');
  const W = gpu.upload(w, 'bench:W');
  const Y = gpu.alloc(M * N, 'bench:y');
  const readsHalves = half && matmulF16ReadsHalves(gpu);
  const W16 = readsHalves ? gpu.alloc(halfBufferFloats(N * K), 'bench:W16') : null;
  if (W16) castToF16(gpu, { buffer: W }, { buffer: W16 }, N * K);
  const a = { buffer: X, shape: [M, K] };
  const c = { buffer: Y, shape: [M, N] };
  const record = half
    ? () => matmulF16(gpu, { a, b: W16 ? { buffer: W16, shape: [N, K], half: true } : { buffer: W, shape: [N, K] }, c, transB: true })
    : () => matmul(gpu, { a, b: { buffer: W, shape: [N, K] }, c, transB: true });
  return {
    variant: half ? `f16 ${chooseMatmulF16Kernel(gpu)}${W16 ? ' (W stored f16)' : ''}` : `f32 ${chooseMatmulVariant(gpu, M, N, K)}`,
    shape: `${M}x${N}x${K}`,
    work: { flops: matmulFlops(M, N, K) },
    record,
    async validate() {
      gpu.write(Y, new Float32Array(M * N).fill(NaN));
      record();
      const got = await gpu.read(Y, M * N, 0, 'bench:precision:validate');
      const sample = sampleIndices(rng, M * N);
      const [rx, rw] = half ? [f16RoundAll(x), f16RoundAll(w)] : [x, w];
      const want = new Float64Array(M * N);
      for (const i of sample) want[i] = matmulRefElement(rx, rw, { M, N, K, transA: false, transB: true }, Math.floor(i / N), i % N);
      const r = compareClose(got, want, matmulTolerance(K), sample);
      return { ok: r.ok, maxAbsError: r.maxAbsError, checked: r.count };
    },
    release() {
      for (const b of [X, W, Y, W16]) if (b) gpu.release(b);
    },
  };
}

export const matmulF16Bench: BenchFamily = {
  name: 'matmul-f16',
  describe: "a linear's product y = x·Wᵀ at f32 and at f16 (W stored f16, f32 accumulation) side by side (--sizes n or MxNxK)",
  async run(ctx) {
    const { gpu } = ctx;
    if (!gpu.has('shader-f16')) {
      console.log('  matmul-f16: this adapter lacks shader-f16');
      return { failed: 0, report: { rows: [] } };
    }
    const sizes = parseSizes(ctx.sizes ?? (gpu.software ? '512' : '2048,4096'), ['n', 'MxNxK'], '', (d) => (d.length === 1 ? [d[0]!, d[0]!, d[0]!] : d)) as [number, number, number][];
    const cases = function* () {
      for (const s of sizes) for (const half of [false, true]) yield productCase(gpu, half, s, ctx.seed);
    };
    const rows = await runCases(ctx, 'matmul-f16', cases());
    return printRows(ctx, rows, { variant: 'y = x·Wᵀ', shape: 'M x N x K' });
  },
};
