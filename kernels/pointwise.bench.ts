// Bench cases of the pointwise family, and the bandwidth table the memory-bound families share:
// each case is validated against the float64 reference on a sample of the very inputs it is then
// timed on, and reported in GB/s (bytes each operand is read + the output written, once) beside
// the copy ceilings measured in the same run.
import type { Gpu } from '../src/gpu/gpu.ts';
import { timeCalls } from '../src/bench/measure.ts';
import { compareClose, type Tolerance } from '../src/util/allclose.ts';
import { Rng } from '../src/util/prng.ts';
import { BenchInputError, caseProgress, fmt, parseList, printBandwidthRows, type BenchContext, type BenchFamily, type BenchOutcome } from '../src/bench/family.ts';
import { addBias, addInPlace, gelu, pointwise, pointwiseBytes } from './pointwise.ts';
import { POINTWISE_TOL, axpbyRef, geluRef } from './pointwise.ref.ts';

export interface BandwidthRow {
  family: string;
  case: string;
  shape: string;
  bytes: number;
  ms: number;
  gbps: number;
  clock: 'device' | 'wall';
  maxAbsError: number;
  checked: number;
  ok: boolean;
}

/** Parses --sizes as a comma list of element counts (16Mi, 1M, 4096) or RxC shapes. */
export function parseCounts(s: string): number[][] {
  return s.split(',').map((tok) => {
    const dims = tok.trim().split('x').map((d) => {
      const m = /^(\d+)(Mi|M|Ki|K)?$/.exec(d.trim());
      if (!m) throw new BenchInputError(`--sizes: "${tok}" is not a count (like 16Mi) or RxC`);
      const mult = { Mi: 2 ** 20, M: 1e6, Ki: 1024, K: 1000 }[m[2] ?? ''] ?? 1;
      return Number(m[1]) * mult;
    });
    if (dims.some((d) => d <= 0)) throw new BenchInputError(`--sizes: "${tok}" has a zero dimension`);
    return dims;
  });
}

/** Indices to check: all of a small output, a seeded sample of a large one. */
export function sampleIndices(rng: Rng, n: number, k = 4096): number[] {
  return n <= k ? Array.from({ length: n }, (_, i) => i) : Array.from({ length: k }, () => rng.int(n));
}

/**
 * Validates then times one case: `record` is called once on poisoned outputs, `check` compares
 * what it wrote, then timeCalls times `record`. `bytes` is the napkin-math traffic of one call.
 */
export async function bandwidthCase(
  gpu: Gpu,
  meta: { family: string; case: string; shape: string; bytes: number; runs: number },
  record: () => void,
  check: () => Promise<{ got: ArrayLike<number>; want: ArrayLike<number>; tol: Tolerance; indices?: number[] }>,
): Promise<BandwidthRow> {
  const p = caseProgress(`${meta.family} ${meta.case} ${meta.shape}`);
  record();
  const c = await check();
  const r = compareClose(c.got, c.want, c.tol, c.indices);
  const t = await timeCalls(gpu, record, { tag: `bench:${meta.family}:${meta.case}:${meta.shape}`, runs: meta.runs });
  const gbps = meta.bytes / (t.ms * 1e6);
  p.done(`${fmt(gbps, 2)} GB/s${r.ok ? '' : ' FAILED validation'}`);
  return { ...meta, ms: t.ms, gbps, clock: t.clock, maxAbsError: r.maxAbsError, checked: r.count, ok: r.ok };
}

export function printBandwidthTable(ctx: BenchContext, rows: BandwidthRow[]): BenchOutcome {
  const out = printBandwidthRows(ctx, ['case', 'shape', 'MiB moved'], (r) => [r.case, r.shape, fmt(r.bytes / 2 ** 20, 0)], rows);
  console.log(`ceilings (same run): copyBufferToBuffer ${fmt(ctx.ceilings.copyBufferGbps, 2)} GB/s, vec4 copy kernel ${fmt(ctx.ceilings.gbps, 2)} GB/s`);
  return { ...out, report: { rows, ceilings: ctx.ceilings } };
}

// ---- pointwise cases --------------------------------------------------------------------------

const CASES = ['add', 'gelu', 'addBias', 'residual'] as const;
type Case = (typeof CASES)[number];

async function pointwiseCase(gpu: Gpu, which: Case, n: number, ctx: BenchContext): Promise<BandwidthRow> {
  const rng = new Rng(ctx.seed);
  const cols = 1024;
  const x = rng.floats(n, -4, 4);
  const y = which === 'addBias' ? rng.floats(cols) : which === 'gelu' ? new Float32Array(0) : rng.floats(n);
  const X = gpu.upload(x, 'bench:x');
  const Y = y.length ? gpu.upload(y, 'bench:y') : gpu.unused;
  const Z = gpu.alloc(n, 'bench:z');
  gpu.write(Z, new Float32Array(n).fill(NaN));
  const xr = { buffer: X, shape: [n] };
  const zr = { buffer: Z, shape: [n] };
  const idx = sampleIndices(rng, n);
  const record: Record<Case, () => void> = {
    add: () => pointwise(gpu, { op: 'axpby', x: xr, y: { buffer: Y, shape: [n] }, out: zr }),
    gelu: () => gelu(gpu, xr, zr),
    addBias: () => addBias(gpu, { buffer: X, shape: [n / cols, cols] }, { buffer: Y, shape: [cols] }, { buffer: Z, shape: [n / cols, cols] }),
    // z = ½·z + y rather than z += y, so the timed repeats converge (to 2y) instead of growing.
    residual: () => addInPlace(gpu, zr, { buffer: Y, shape: [n] }, 0.5, 1),
  };
  if (which === 'residual') gpu.write(Z, x);
  const want = (): Float64Array => {
    const w = new Float64Array(n);
    const one = (i: number) => (which === 'add' ? axpbyRef([x[i]!], [y[i]!])[0]! : which === 'gelu' ? geluRef([x[i]!])[0]! : which === 'addBias' ? x[i]! + y[i % cols]! : 0.5 * x[i]! + y[i]!);
    for (const i of idx) w[i] = one(i);
    return w;
  };
  const bytes = which === 'addBias' ? pointwiseBytes('axpby', n, cols) : pointwiseBytes(which === 'gelu' ? 'gelu' : 'axpby', n);
  const row = await bandwidthCase(gpu, { family: 'pointwise', case: which, shape: `${n}`, bytes, runs: ctx.runs }, record[which], async () => ({
    got: await gpu.read(Z, n),
    want: want(),
    tol: which === 'gelu' ? POINTWISE_TOL.gelu : POINTWISE_TOL.linear,
    indices: idx,
  }));
  for (const b of [X, Y, Z]) if (b !== gpu.unused) gpu.release(b);
  return row;
}

export const pointwiseBench: BenchFamily = {
  name: 'pointwise',
  describe: 'add, gelu, addBias, in-place residual add; GB/s vs copyBufferToBuffer and the copy kernel',
  async run(ctx) {
    const sizes = parseCounts(ctx.sizes ?? '1Mi,16Mi').map((d) => d.reduce((a, b) => a * b, 1));
    for (const n of sizes) if (n % 1024) throw new BenchInputError(`--sizes: pointwise wants multiples of 1024 elements (addBias rows are 1024 wide), got ${n}`);
    const cases = parseList<Case>('variant', ctx.variant, CASES);
    const rows: BandwidthRow[] = [];
    for (const n of sizes) for (const c of cases) rows.push(await pointwiseCase(ctx.gpu, c, n, ctx));
    return printBandwidthTable(ctx, rows);
  },
};
