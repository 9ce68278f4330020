// What a kernel family contributes to `coca bench`: a name and a run that validates each case
// against the float64 reference, times it with timeCalls, and prints its own table with the
// ratios to the ceilings measured at the start of the same run.
import type { Gpu } from '../gpu/gpu.ts';
import { CocaError } from '../util/errors.ts';
import type { Ceilings } from './ceiling.ts';

export interface BenchContext {
  gpu: Gpu;
  ceilings: Ceilings;
  runs: number;
  seed: number;
  /** --sizes as given (each family parses its own), or undefined for its defaults. */
  sizes?: string;
  /** --variant as given ('all' by default). */
  variant: string;
  /** --layout as given (matmul). */
  layout: string;
  /** Whether CPU reference measurements (BLAS) may run. */
  blas: boolean;
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

export function parseList<T extends string>(what: string, s: string, all: readonly T[]): T[] {
  if (s === 'all') return [...all];
  const items = s.split(',').map((x) => x.trim());
  for (const x of items) if (!(all as readonly string[]).includes(x)) throw new BenchInputError(`--${what}: "${x}" is not one of ${all.join(', ')}, all`);
  return items as T[];
}

export class BenchInputError extends CocaError {}

/** What every memory-bound case reports: time, bandwidth and its check against the reference. */
export interface BandwidthResult {
  ms: number;
  gbps: number;
  ok: boolean;
  maxAbsError: number;
}

/** Runs `run` for every size × pass, one progress line each, and returns the rows in that order. */
export async function runCases<S, P extends string, R extends BandwidthResult>(
  family: string,
  sizes: readonly S[],
  passes: readonly P[],
  describe: (size: S) => string,
  run: (pass: P, size: S) => Promise<R>,
): Promise<R[]> {
  const rows: R[] = [];
  for (const size of sizes) {
    for (const pass of passes) {
      const p = caseProgress(`${family} ${pass} ${describe(size)}`);
      const r = await run(pass, size);
      rows.push(r);
      p.done(`${fmt(r.gbps, 2)} GB/s${r.ok ? '' : ' FAILED validation'}`);
    }
  }
  return rows;
}

/** Prints memory-bound rows: the family's own leading columns, then bandwidth against both same-run copy ceilings. */
export function printBandwidthRows<R extends BandwidthResult>(ctx: BenchContext, lead: string[], cells: (r: R) => string[], rows: readonly R[]): BenchOutcome {
  console.log();
  printTable(
    [...lead, 'ms', 'GB/s', '% copy kernel', '% copyBuffer', 'check (max abs err)'],
    rows.map((r) => [
      ...cells(r),
      fmt(r.ms, 3),
      fmt(r.gbps, 2),
      fmt((100 * r.gbps) / ctx.ceilings.gbps, 1),
      fmt((100 * r.gbps) / ctx.ceilings.copyBufferGbps, 1),
      `${r.ok ? 'ok' : 'FAILED'} (${r.maxAbsError.toExponential(1)})`,
    ]),
    lead.length,
  );
  return { failed: rows.filter((r) => !r.ok).length, report: { rows } };
}
