// The bench harness every kernel family shares (llm.c's dev/cuda workbenches in one template): a
// family turns --sizes and --variant into BenchCases; runCases validates each against the float64
// reference on the very inputs it then times, and printRows puts the figures beside the ceilings
// measured at the start of the same run (absolute times on shared machines drift).
import type { Gpu } from '../../src/gpu/gpu.ts';
import { CocaError } from '../../src/util/errors.ts';
import type { Rng } from '../../src/util/prng.ts';
import type { Ceilings } from './ceiling.ts';
import { timeCalls } from './measure.ts';

export interface BenchContext {
  gpu: Gpu;
  ceilings: Ceilings;
  runs: number;
  seed: number;
  /** --sizes as given (parsed by parseSizes against the family's format), or undefined for its defaults. */
  sizes?: string;
  /** --variant as given ('all' by default). */
  variant: string;
  /** --layout as given (matmul). */
  layout: string;
  /** Whether CPU reference measurements (BLAS, PyTorch) may run. */
  blas: boolean;
  /** --checkpoint: a model the family measures instead of its own (web). */
  checkpoint?: string;
}

export interface BenchOutcome {
  /** Cases whose output did not match the reference. */
  failed: number;
  /** Everything measured, for --json. */
  report: unknown;
}

export interface BenchFamily {
  name: string;
  describe: string;
  run(ctx: BenchContext): Promise<BenchOutcome>;
}

export class BenchInputError extends CocaError {}

/** What validate() found: the largest |got − want| and whether every checked element is within tolerance. */
export interface Check {
  ok: boolean;
  maxAbsError: number;
  /** Elements compared (absent where a case compares whole rows of several outputs). */
  checked?: number;
}

/**
 * One measured call. `work` is the napkin math of one call: FLOPs for compute-bound kernels
 * (reported in GFLOP/s against the FMA ceiling), bytes read + written for memory-bound ones (GB/s
 * against the copy ceilings). validate() runs the call once on poisoned outputs and compares a
 * sample with the reference; whatever else it returns (X) is reported beside the figures.
 */
export interface BenchCase<X extends object = object> {
  variant: string;
  shape: string;
  work: { flops: number } | { bytes: number };
  /** Records one call's dispatches (timed many times over, so it must be safe to repeat). */
  record(): void;
  validate(): Promise<Check & X>;
  release(): void;
}

export type BenchRow<X extends object = object> = Check &
  X & {
    family: string;
    variant: string;
    shape: string;
    flops?: number;
    bytes?: number;
    ms: number;
    /** GFLOP/s or GB/s, by the kind of work. */
    rate: number;
    clock: 'device' | 'wall';
    iters: number;
  };

export const fmt = (x: number, digits = 1): string => (Number.isFinite(x) ? x.toFixed(digits) : '–');

/** Prints an aligned table: the first `textCols` columns left-aligned, the rest right-aligned. */
export function printTable(head: string[], rows: string[][], textCols = 1): void {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < textCols ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  console.log(line(head));
  for (const r of rows) console.log(line(r));
}

/** One progress line per case, finished by done(). */
export function caseProgress(label: string): { done(result: string): void } {
  process.stdout.write(`  ${label} ...`);
  return { done: (result: string) => process.stdout.write(` ${result}\n`) };
}

const rateOf = (row: { flops?: number; rate: number }): string => (row.flops !== undefined ? `${fmt(row.rate, 2)} GFLOP/s` : `${fmt(row.rate, 2)} GB/s`);

/**
 * Validates then times each case in turn, one progress line each, releasing its buffers before
 * the next is made (cases come from a generator so that only one holds GPU memory at a time).
 */
export async function runCases<X extends object>(ctx: BenchContext, family: string, cases: Iterable<BenchCase<X>>): Promise<BenchRow<X>[]> {
  const rows: BenchRow<X>[] = [];
  for (const c of cases) {
    const p = caseProgress(`${family} ${c.variant} ${c.shape}`);
    let row: BenchRow<X>;
    try {
      const check = await c.validate();
      const t = await timeCalls(ctx.gpu, c.record, { tag: `bench:${family}:${c.variant}:${c.shape}`, runs: ctx.runs });
      const amount = 'flops' in c.work ? c.work.flops : c.work.bytes;
      row = { ...check, family, variant: c.variant, shape: c.shape, ...c.work, ms: t.ms, rate: amount / (t.ms * 1e6), clock: t.clock, iters: t.iters };
    } finally {
      c.release();
    }
    rows.push(row);
    p.done(`${rateOf(row)}${row.ok ? '' : ' FAILED validation'}`);
  }
  return rows;
}

/** A column a family adds after the rate columns (attention's extra memory, matmul's × BLAS). */
export interface ExtraColumn<X extends object> {
  head: string;
  cell(row: BenchRow<X>): string;
}

/**
 * Prints the rows of one family: its variant and shape columns, then time and rate against the
 * same-run ceilings (FMA for FLOP-counted rows, both copies for byte-counted ones), then extras.
 */
export function printRows<X extends object>(
  ctx: BenchContext,
  rows: readonly BenchRow<X>[],
  heads: { variant: string; shape: string },
  extra: ExtraColumn<X>[] = [],
): BenchOutcome {
  const { ceilings } = ctx;
  const compute = rows.some((r) => r.flops !== undefined);
  const rateHeads = compute ? ['ms', 'GFLOP/s', '% FMA ceiling'] : ['MiB moved', 'ms', 'GB/s', '% copy kernel', '% copyBuffer'];
  const rateCells = (r: BenchRow<X>) =>
    compute
      ? [fmt(r.ms, 3), fmt(r.rate, 2), fmt((100 * r.rate) / ceilings.gflops, 1)]
      : [fmt((r.bytes ?? NaN) / 2 ** 20, 0), fmt(r.ms, 3), fmt(r.rate, 2), fmt((100 * r.rate) / ceilings.gbps, 1), fmt((100 * r.rate) / ceilings.copyBufferGbps, 1)];
  console.log();
  printTable(
    [heads.variant, heads.shape, ...rateHeads, ...extra.map((e) => e.head), 'check (max abs err)'],
    rows.map((r) => [r.variant, r.shape, ...rateCells(r), ...extra.map((e) => e.cell(r)), `${r.ok ? 'ok' : 'FAILED'} (${r.maxAbsError.toExponential(1)})`]),
    2,
  );
  if (!compute) console.log(`ceilings (same run): copyBufferToBuffer ${fmt(ceilings.copyBufferGbps, 2)} GB/s, vec4 copy kernel ${fmt(ceilings.gbps, 2)} GB/s`);
  return { failed: rows.filter((r) => !r.ok).length, report: { rows } };
}

export function parseList<T extends string>(what: string, s: string, all: readonly T[]): T[] {
  if (s === 'all') return [...all];
  const items = s.split(',').map((x) => x.trim());
  for (const x of items) if (!(all as readonly string[]).includes(x)) throw new BenchInputError(`--${what}: "${x}" is not one of ${all.join(', ')}, all`);
  return items as T[];
}

/**
 * Parses --sizes: a comma list of shapes in one of the family's `forms` (e.g. ['n', 'MxNxK']),
 * each dimension a positive whole number, optionally suffixed K (1000), Ki (1024), M (10⁶) or
 * Mi (2²⁰); `meaning` says what the letters stand for; `expand` turns a short form into the full
 * shape (matmul's n into n×n×n).
 */
export function parseSizes(text: string, forms: string[], meaning = '', expand: (d: number[]) => number[] = (d) => d): number[][] {
  const named = forms.length === 1 ? `is not ${forms[0]}` : `is neither ${forms.slice(0, -1).join(', ')} nor ${forms.at(-1)}`;
  return text.split(',').map((tok) => {
    tok = tok.trim();
    const d = tok.split('x').map((s) => {
      const m = /^(\d+)(Mi|M|Ki|K)?$/.exec(s.trim());
      return m ? Number(m[1]) * ({ Mi: 2 ** 20, M: 1e6, Ki: 1024, K: 1000 }[m[2] ?? ''] ?? 1) : NaN;
    });
    if (!forms.some((f) => f.split('x').length === d.length)) throw new BenchInputError(`--sizes: "${tok}" ${named}${meaning ? ` (${meaning})` : ''}`);
    if (d.some((x) => !Number.isInteger(x) || x <= 0)) throw new BenchInputError(`--sizes: "${tok}" has a dimension that is not a positive whole number (like 4096 or 16Mi)`);
    return expand(d);
  });
}

/** Indices to check: all of a small output, a seeded sample of a large one. */
export function sampleIndices(rng: Rng, n: number, k = 4096): number[] {
  return n <= k ? Array.from({ length: n }, (_, i) => i) : Array.from({ length: k }, () => rng.int(n));
}

/** Sampled rows of a [rows, cols] output and their element indices: the reference of a whole 16 Mi matrix would dominate the run. */
export function rowSample(rng: Rng, rows: number, cols: number): { rowsPicked: number[]; indices: number[] } {
  const rowsPicked = sampleIndices(rng, rows, 16);
  return { rowsPicked, indices: rowsPicked.flatMap((r) => Array.from({ length: cols }, (_, c) => r * cols + c)) };
}
