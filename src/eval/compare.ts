// Several runs side by side: `coca compare`. Runs whose folder names differ only in a trailing
// seed (`coca-s1`, `coca-s2`) form one group, summarised as mean ± sample standard deviation, so
// an ablation or a parity check over seeds reads as one table; the loss curves of every run are
// overlaid in one page. Runs written by scripts/reference/coca_torch.py --train have the same
// files (run.json, log.jsonl, eval.json) and compare the same way.
import fs from 'node:fs';
import path from 'node:path';
import { CocaError } from '../util/errors.ts';
import { readJsonl } from '../util/jsonl.ts';
import { svgChart, writeReport, type Series } from '../util/report.ts';

export class CompareError extends CocaError {
  override name = 'CompareError';
}

interface LogRow {
  step: number;
  total: number;
  contrastive: number;
  caption: number;
  logitScale?: number;
}

type Curve = 'total' | 'contrastive' | 'caption' | 'logitScale';

interface EvalSection {
  title: string;
  rows: { name: string; metrics: Record<string, number> }[];
}

export interface RunSummary {
  dir: string;
  name: string;
  group: string;
  trainer: string;
  seed: number | null;
  log: LogRow[];
  val: (LogRow & { imageToTextR1?: number; textToImageR1?: number })[];
  /** Metric name → value, from the run's eval.json (when it has one) and the end of its log. */
  metrics: Record<string, number>;
}

/** The columns of the summary table: key, heading, and how to read it from a run. */
export const COLUMNS: { key: string; head: string; percent: boolean }[] = [
  { key: 'final_contrastive', head: 'train con loss', percent: false },
  { key: 'final_caption', head: 'train cap loss', percent: false },
  { key: 'final_logit_scale', head: 'logit scale', percent: false },
  { key: 'style_t2i_r1', head: 'style T→I R@1', percent: true },
  { key: 'style_t2i_r10', head: 'style T→I R@10', percent: true },
  { key: 'style_i2t_r1', head: 'style I→T R@1', percent: true },
  { key: 'concept_i2t_r1', head: 'concept I→T R@1', percent: true },
  { key: 'concept_flat_top1', head: 'concept flat hit@1', percent: true },
  { key: 'concept_cider_d', head: 'concept CIDEr-D', percent: false },
  { key: 'concept_nn_cider_d', head: 'concept NN CIDEr-D', percent: false },
  { key: 'style_cider_d', head: 'style CIDEr-D', percent: false },
  { key: 'fmnist_top1', head: 'F-MNIST top-1', percent: true },
];

/** Mean of the last `window` logged values: a final loss that one noisy batch does not decide. */
const FINAL_WINDOW = 50;

function evalMetrics(sections: EvalSection[]): Record<string, number> {
  const out: Record<string, number> = {};
  const row = (s: EvalSection, name: string) => s.rows.find((r) => r.name === name)?.metrics ?? {};
  for (const s of sections) {
    const split = s.title.split(/[ ,]/)[0]!;
    const prefix = split === 'test-concept' ? 'concept' : split === 'test-style' ? 'style' : split === 'test-fmnist' ? 'fmnist' : split;
    const own = row(s, 'coca');
    if (s.title.includes('flat hit@k')) {
      for (const [k, v] of Object.entries(own)) out[`${prefix}_flat_${k}`] = v;
    } else {
      for (const [k, v] of Object.entries(own)) out[`${prefix}_${k}`] = v;
      for (const [k, v] of Object.entries(row(s, 'nearest-neighbour caption'))) out[`${prefix}_nn_${k}`] = v;
    }
  }
  return out;
}

export function readRun(dir: string): RunSummary {
  const runFile = path.join(dir, 'run.json');
  const logFile = path.join(dir, 'log.jsonl');
  if (!fs.existsSync(runFile) || !fs.existsSync(logFile)) {
    throw new CompareError(`${dir} is not a training run (no run.json and log.jsonl); give folders written by coca train or coca_torch.py --train`);
  }
  const run = JSON.parse(fs.readFileSync(runFile, 'utf8')) as { seed?: number; trainer?: string };
  const log = readJsonl<LogRow>(logFile);
  const name = path.basename(path.resolve(dir));
  const metrics: Record<string, number> = {};
  const tail = log.slice(-FINAL_WINDOW);
  if (tail.length) {
    for (const k of ['total', 'contrastive', 'caption'] as const) metrics[`final_${k}`] = tail.reduce((s, r) => s + r[k], 0) / tail.length;
    const scale = log.at(-1)!.logitScale;
    if (scale !== undefined) metrics.final_logit_scale = scale;
  }
  const evalFile = path.join(dir, 'eval.json');
  if (fs.existsSync(evalFile)) Object.assign(metrics, evalMetrics((JSON.parse(fs.readFileSync(evalFile, 'utf8')) as { sections: EvalSection[] }).sections));
  return {
    dir,
    name,
    group: name.replace(/[-_]s(eed)?\d+$/, ''),
    trainer: run.trainer?.startsWith('pytorch') ? 'pytorch' : 'coca',
    seed: run.seed ?? null,
    log,
    val: readJsonl(path.join(dir, 'val.jsonl')),
    metrics,
  };
}

export interface GroupStat {
  group: string;
  runs: string[];
  /** Metric → mean, sample standard deviation (0 for one run), and the values. */
  stats: Record<string, { mean: number; sd: number; values: number[] }>;
}

export function summarise(runs: RunSummary[]): GroupStat[] {
  const groups = new Map<string, RunSummary[]>();
  for (const r of runs) groups.set(r.group, [...(groups.get(r.group) ?? []), r]);
  return [...groups].map(([group, rs]) => {
    const stats: GroupStat['stats'] = {};
    const keys = new Set(rs.flatMap((r) => Object.keys(r.metrics)));
    for (const k of keys) {
      const values = rs.map((r) => r.metrics[k]).filter((v): v is number => v !== undefined && Number.isFinite(v));
      if (values.length === 0) continue;
      const mean = values.reduce((s, v) => s + v, 0) / values.length;
      const sd = values.length > 1 ? Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / (values.length - 1)) : 0;
      stats[k] = { mean, sd, values };
    }
    return { group, runs: rs.map((r) => r.name), stats };
  });
}

function cell(s: { mean: number; sd: number; values: number[] } | undefined, percent: boolean): string {
  if (!s) return '—';
  const f = (v: number) => (percent ? (100 * v).toFixed(1) : v.toFixed(3));
  return s.values.length > 1 ? `${f(s.mean)} ± ${f(s.sd)}` : f(s.mean);
}

/** A Markdown table: one row per group (mean ± sd over its runs), only columns some run has. */
export function markdownTable(groups: GroupStat[]): string {
  const cols = COLUMNS.filter((c) => groups.some((g) => g.stats[c.key]));
  const head = `| group | runs | ${cols.map((c) => c.head + (c.percent ? ' (%)' : '')).join(' | ')} |`;
  const rule = `|---|---|${cols.map(() => '---:').join('|')}|`;
  const rows = groups.map((g) => `| ${g.group} | ${g.runs.length} | ${cols.map((c) => cell(g.stats[c.key], c.percent)).join(' | ')} |`);
  return [head, rule, ...rows].join('\n');
}

/**
 * Each group's means against a reference group's spread: for every column both have, the
 * difference in units of the reference's sample sd, and whether it is within `k` of them. This is
 * how "coca's metrics are within PyTorch's own seed-to-seed spread" is decided, not by eye.
 */
export function againstReference(groups: GroupStat[], reference: string, k = 2): string {
  const ref = groups.find((g) => g.group === reference);
  if (!ref) throw new CompareError(`no group named ${reference}; the groups are ${groups.map((g) => g.group).join(', ')}`);
  if (ref.runs.length < 2) throw new CompareError(`group ${reference} has one run; its spread needs two or more seeds`);
  const lines = [`| metric | ${reference} (${ref.runs.length} runs) | group | mean | difference / sd of ${reference} | within ${k} sd |`, '|---|---:|---|---:|---:|:---:|'];
  for (const g of groups.filter((x) => x !== ref)) {
    for (const c of COLUMNS) {
      const r = ref.stats[c.key];
      const o = g.stats[c.key];
      if (!r || !o) continue;
      // One reference run with this metric (the others lack it, e.g. no eval.json) has no spread
      // to measure against: say so rather than call every other value ∞ sd away.
      if (r.values.length < 2) {
        lines.push(`| ${c.head} | ${cell(r, c.percent)} | ${g.group} | ${cell(o, c.percent)} | — | no spread: 1 run of ${reference} has it |`);
        continue;
      }
      const z = r.sd > 0 ? (o.mean - r.mean) / r.sd : o.mean === r.mean ? 0 : Infinity;
      lines.push(`| ${c.head} | ${cell(r, c.percent)} | ${g.group} | ${cell(o, c.percent)} | ${Number.isFinite(z) ? z.toFixed(2) : '∞'} | ${Math.abs(z) <= k ? 'yes' : 'no'} |`);
    }
  }
  return lines.join('\n');
}

/** Plotted curves keep at most this many points per run (after smoothing), so pages stay small. */
const MAX_POINTS = 400;

function thin(points: [number, number][]): [number, number][] {
  const every = Math.ceil(points.length / MAX_POINTS);
  return every <= 1 ? points : points.filter((_, i) => i % every === 0 || i === points.length - 1);
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#17becf', '#bcbd22', '#7f7f7f'];

/** Trailing moving average over `window` points (1 = the raw curve). */
export function smooth(points: [number, number][], window: number): [number, number][] {
  let sum = 0;
  return points.map(([x, y], i) => {
    sum += y;
    if (i >= window) sum -= points[i - window]![1];
    return [x, sum / Math.min(i + 1, window)];
  });
}

function colorOf(runs: RunSummary[]): (r: RunSummary) => string {
  const groups = [...new Set(runs.map((r) => r.group))];
  return (r) => PALETTE[groups.indexOf(r.group) % PALETTE.length]!;
}

function curves(runs: RunSummary[], key: Curve, window: number): Series[] {
  const color = colorOf(runs);
  return runs.map((r) => ({
    name: r.name,
    legend: r.group,
    color: color(r),
    points: thin(smooth(r.log.filter((l) => l[key] !== undefined).map((l) => [l.step, l[key]!] as [number, number]), window)),
  }));
}

/** The plotted training curves; the logit scale moves smoothly already and is drawn raw. */
const CURVES: { key: Curve; smoothed: boolean; title: (window: number) => string }[] = [
  { key: 'total', smoothed: true, title: (w) => `total training loss, moving average of ${w} steps` },
  { key: 'contrastive', smoothed: true, title: (w) => `contrastive training loss, moving average of ${w} steps` },
  { key: 'caption', smoothed: true, title: (w) => `captioning training loss, moving average of ${w} steps` },
  { key: 'logitScale', smoothed: false, title: () => 'logit scale (log of the inverse temperature), as the loss saw it' },
];

function curveSeries(runs: RunSummary[], c: (typeof CURVES)[number], window: number): Series[] {
  return curves(runs, c.key, c.smoothed ? window : 1);
}

/** The training curves (three losses, logit scale) stacked in one SVG file, for documents. */
export function writeComparisonSvg(file: string, runs: RunSummary[], window: number): void {
  const w = 640;
  const h = 220;
  const parts = CURVES.map((c, i) => {
    const svg = svgChart(curveSeries(runs, c, window), w, h, c.title(window), true) ?? '';
    return `<g transform="translate(0 ${i * h})">${svg}</g>`;
  });
  fs.writeFileSync(file, `<svg width="${w}" height="${CURVES.length * h}" xmlns="http://www.w3.org/2000/svg">${parts.join('')}</svg>\n`);
}

/** report.html-style page: the summary table and every run's curves overlaid, one colour per group. */
export function writeComparison(file: string, runs: RunSummary[], window: number): void {
  const color = colorOf(runs);
  const valCurve = (key: 'total'): Series[] =>
    runs.filter((r) => r.val.length).map((r) => ({ name: r.name, legend: r.group, color: color(r), points: r.val.map((v) => [v.step, v[key]] as [number, number]) }));
  const groups = summarise(runs);
  const summary = Object.fromEntries(groups.map((g) => [g.group, g.runs.join(', ')]));
  writeReport(
    file,
    'coca compare',
    summary,
    [
      ...CURVES.map((c) => ({ title: c.title(window), series: curveSeries(runs, c, window), fitY: true })),
      { title: 'validation loss, total', series: valCurve('total'), fitY: true },
    ],
    `<h3>summary (mean ± sd over the runs of each group)</h3><pre>${markdownTable(groups).replace(/</g, '&lt;')}</pre>`,
  );
}
