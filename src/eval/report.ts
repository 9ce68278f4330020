// The `coca eval` table: one section per split, one row per method (the model, then the
// baselines), one column per metric. Recall and accuracy print as percentages (two decimals
// below 1 %), BLEU and CIDEr-D
// as raw scores with 3 decimals, as coco-caption prints them (so CIDEr-D 0.24, not 24).
// JSON keeps raw fractions; missing or non-finite values become null.
import type { CaptionScores } from './captioning.ts';
import type { RecallResult } from './recall.ts';
import type { TopKResult } from './zeroshot.ts';

export type MetricKind = 'percent' | 'score';

export interface MetricColumn {
  key: string;
  label: string;
  kind: MetricKind;
}

export const METRIC_COLUMNS: readonly MetricColumn[] = [
  ...[1, 5, 10].map((k) => ({ key: `i2t_r${k}`, label: `I→T R@${k}`, kind: 'percent' as const })),
  ...[1, 5, 10].map((k) => ({ key: `t2i_r${k}`, label: `T→I R@${k}`, kind: 'percent' as const })),
  ...[1, 2, 3, 4].map((k) => ({ key: `bleu${k}`, label: `BLEU-${k}`, kind: 'score' as const })),
  { key: 'cider_d', label: 'CIDEr-D', kind: 'score' },
  { key: 'top1', label: 'top-1', kind: 'percent' },
  { key: 'top5', label: 'top-5', kind: 'percent' },
  // DeViSE: the pictures whose label has a vector in its space (the others count as misses).
  { key: 'coverage', label: 'coverage', kind: 'percent' },
];

export type Metrics = Partial<Record<string, number>>;

export interface EvalRow {
  /** "coca", "nearest-neighbour caption", "chance", ... */
  name: string;
  metrics: Metrics;
}

export interface EvalSection {
  /** e.g. "test-concept", "fashion-mnist (zero-shot)". */
  title: string;
  /** Set sizes that fix the chance levels: images, captions, classes. */
  sizes: Record<string, number>;
  rows: EvalRow[];
}

export function recallMetrics(r: Pick<RecallResult, 'ks' | 'imageToText' | 'textToImage'>): Metrics {
  const m: Metrics = {};
  r.ks.forEach((k, j) => {
    m[`i2t_r${k}`] = r.imageToText[j];
    m[`t2i_r${k}`] = r.textToImage[j];
  });
  return m;
}

export function captionMetrics(c: Pick<CaptionScores, 'bleu' | 'ciderD'>): Metrics {
  const m: Metrics = { cider_d: c.ciderD };
  c.bleu.forEach((v, k) => (m[`bleu${k + 1}`] = v));
  return m;
}

export function topKMetrics(t: Pick<TopKResult, 'ks' | 'accuracy'>): Metrics {
  const m: Metrics = {};
  t.ks.forEach((k, j) => (m[`top${k}`] = t.accuracy[j]));
  return m;
}

function cell(v: number | undefined, kind: MetricKind): string {
  if (v === undefined || !Number.isFinite(v)) return '—';
  if (kind === 'score') return v.toFixed(3);
  // Chance levels on a thousand-caption split are ~0.07 %: one decimal would print 0.1 %.
  const p = 100 * v;
  return `${p !== 0 && Math.abs(p) < 1 ? p.toFixed(2) : p.toFixed(1)}%`;
}

/** Fixed-width text table of one section, showing only the columns some row fills. */
export function formatSection(s: EvalSection): string {
  const cols = METRIC_COLUMNS.filter((c) => s.rows.some((r) => r.metrics[c.key] !== undefined));
  const sizes = Object.entries(s.sizes).map(([k, v]) => `${v} ${k}`).join(', ');
  const grid = [['', ...cols.map((c) => c.label)], ...s.rows.map((r) => [r.name, ...cols.map((c) => cell(r.metrics[c.key], c.kind))])];
  const widths = grid[0]!.map((_, j) => Math.max(...grid.map((row) => [...row[j]!].length)));
  const line = (row: string[]) => row.map((x, j) => (j === 0 ? x.padEnd(widths[j]!) : x.padStart(widths[j]!))).join('  ').trimEnd();
  const rule = widths.map((w) => '─'.repeat(w)).join('  ');
  return [`${s.title}${sizes ? ` (${sizes})` : ''}`, line(grid[0]!), rule, ...grid.slice(1).map(line)].join('\n');
}

export interface EvalReportJson {
  sections: { title: string; sizes: Record<string, number>; rows: { name: string; metrics: Record<string, number | null> }[] }[];
}

/** The report as printable text and as JSON-safe data (NaN/Infinity → null). */
export function renderReport(sections: readonly EvalSection[]): { text: string; json: EvalReportJson } {
  const text = sections.map(formatSection).join('\n\n');
  const json: EvalReportJson = {
    sections: sections.map((s) => ({
      title: s.title,
      sizes: { ...s.sizes },
      rows: s.rows.map((r) => ({
        name: r.name,
        metrics: Object.fromEntries(
          Object.entries(r.metrics).map(([k, v]) => [k, v !== undefined && Number.isFinite(v) ? v : null]),
        ),
      })),
    })),
  };
  return { text, json };
}
