// Bench cases of the LSTM family: the gates matmul alone, one step (that matmul, then the fused
// cell) and one step with its backward (cell backward, d[x | h] and dW + db), validated against the float64
// reference on the very inputs they are then timed on; GFLOP/s of the matmuls (lstmStepFlops)
// and steps per second.
import type { Gpu } from '../src/gpu/gpu.ts';
import { compareClose } from '../src/util/allclose.ts';
import { Rng } from '../src/util/prng.ts';
import { fmt, parseList, parseSizes, printRows, runCases, sampleIndices, type BenchCase, type BenchContext, type BenchFamily } from './bench/harness.ts';
import { lstmCell, lstmCellBackward, lstmGates, lstmGatesBackward, lstmStepFlops } from './lstm.ts';
import { lstmCellBackwardRef, lstmCellRef, lstmTolerance } from './lstm.ref.ts';

/** gates: the step's matmul alone, beside the step, so that the fused cell's share shows. */
const CASES = ['gates', 'step', 'step+bwd'] as const;
type Case = (typeof CASES)[number];

function lstmCase(gpu: Gpu, which: Case, [B, I, H]: [number, number, number], seed: number): BenchCase {
  const rng = new Rng(seed);
  const K = I + H;
  const ws = 1 / Math.sqrt(K);
  const xh = rng.floats(B * K);
  const w = rng.floats(4 * H * K, -ws, ws);
  const bias = rng.floats(4 * H, -ws, ws);
  const c = rng.floats(B * H);
  const dh = rng.floats(B * H);
  const dc = rng.floats(B * H);
  const up = (a: Float32Array, l: string) => gpu.upload(a, `bench:${l}`);
  const [XH, W, BI, C, DH, DC] = [up(xh, 'xh'), up(w, 'w'), up(bias, 'bias'), up(c, 'c'), up(dh, 'dh'), up(dc, 'dc')];
  const [G, CO, Hh, DG, DCP, DXH, DW, DB] = [
    gpu.alloc(B * 4 * H, 'bench:gates'), gpu.alloc(B * H, 'bench:c_out'), gpu.alloc(B * H, 'bench:h'), gpu.alloc(B * 4 * H, 'bench:dgates'),
    gpu.alloc(B * H, 'bench:dc_prev'), gpu.alloc(B * K, 'bench:dxh'), gpu.alloc(4 * H * K, 'bench:dw'), gpu.alloc(4 * H, 'bench:db'),
  ];
  const t = (buffer: GPUBuffer, shape: number[]) => ({ buffer, shape });
  const step = () => {
    lstmGates(gpu, { xh: t(XH, [B, K]), w: t(W, [4 * H, K]), bias: t(BI, [4 * H]), gates: t(G, [B, 4 * H]) });
    lstmCell(gpu, { gates: t(G, [B, 4 * H]), c: t(C, [B, H]), cOut: t(CO, [B, H]), h: t(Hh, [B, H]) });
  };
  const gates = () => lstmGates(gpu, { xh: t(XH, [B, K]), w: t(W, [4 * H, K]), bias: t(BI, [4 * H]), gates: t(G, [B, 4 * H]) });
  const record = () => {
    if (which === 'gates') return gates();
    step();
    if (which === 'step') return;
    lstmCellBackward(gpu, { acts: t(G, [B, 4 * H]), c: t(C, [B, H]), dh: t(DH, [B, H]), dc: t(DC, [B, H]), dgates: t(DG, [B, 4 * H]), dcPrev: t(DCP, [B, H]) });
    lstmGatesBackward(gpu, { dgates: t(DG, [B, 4 * H]), xh: t(XH, [B, K]), w: t(W, [4 * H, K]), dxh: t(DXH, [B, K]), dw: t(DW, [4 * H, K]), dbias: t(DB, [4 * H]) });
  };
  const out = which === 'gates' ? G : which === 'step' ? Hh : DXH;
  const n = which === 'gates' ? B * 4 * H : which === 'step' ? B * H : B * K;
  return {
    variant: which,
    shape: `${B}x${I}x${H}`,
    work: { flops: lstmStepFlops(B, I, H, 'fwd') + (which === 'step+bwd' ? lstmStepFlops(B, I, H, 'bwd') : 0) },
    record,
    async validate() {
      gpu.write(out, new Float32Array(n).fill(NaN));
      record();
      const pre = new Float64Array(B * 4 * H);
      for (let b = 0; b < B; b++) {
        for (let r = 0; r < 4 * H; r++) {
          let s = bias[r]!;
          for (let k = 0; k < K; k++) s += xh[b * K + k]! * w[r * K + k]!;
          pre[b * 4 * H + r] = s;
        }
      }
      const cell = lstmCellRef(pre, c, B, H);
      let want = which === 'gates' ? pre : cell.h;
      if (which === 'step+bwd') {
        const { dgates } = lstmCellBackwardRef(cell.acts, c, dh, dc, B, H);
        want = new Float64Array(B * K);
        for (let b = 0; b < B; b++) for (let r = 0; r < 4 * H; r++) for (let k = 0; k < K; k++) want[b * K + k] += dgates[b * 4 * H + r]! * w[r * K + k]!;
      }
      const r = compareClose(await gpu.read(out, n), want, lstmTolerance(which === 'step+bwd' ? 4 * H : K), sampleIndices(rng, n));
      return { ok: r.ok, maxAbsError: r.maxAbsError, checked: r.count };
    },
    release() {
      for (const b of [XH, W, BI, C, DH, DC, G, CO, Hh, DG, DCP, DXH, DW, DB]) gpu.release(b);
    },
  };
}

export function* lstmCases(ctx: BenchContext): Generator<BenchCase> {
  const which = parseList<Case>('variant', ctx.variant, CASES);
  const sizes = parseSizes(ctx.sizes ?? (ctx.gpu.software ? '1x256x256,32x256x256' : '1x512x512,64x512x512,256x1024x1024'), ['BxIxH'], 'batch x input size x hidden size') as [number, number, number][];
  for (const s of sizes) for (const c of which) yield lstmCase(ctx.gpu, c, s, ctx.seed);
}

export const lstmBench: BenchFamily = {
  name: 'lstm',
  describe: 'LSTM gates matmul alone, step (gates in one matmul, fused cell), step + backward; GFLOP/s vs the FMA ceiling, steps/s',
  async run(ctx) {
    const rows = await runCases(ctx, 'lstm', lstmCases(ctx));
    return printRows(ctx, rows, { variant: 'case', shape: 'B x I x H' }, [{ head: 'steps/s', cell: (r) => fmt(1000 / r.ms, 0) }]);
  },
};
