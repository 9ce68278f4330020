// The table of scripts/experiments/loss-recipes.sh, from its runs' eval.json and val.jsonl: per
// recipe, mean ± sd over seeds (sd with n − 1) of test-style text→image R@10, test-concept
// text→image R@10 and flat hit@1, CIDEr-D on both, and the last validation loss (always the plain
// loss, whatever the recipe trained on); the seeds each row holds; then the per-seed values.
//   npx tsx scripts/experiments/loss-recipes-table.ts ROOT
import fs from 'node:fs';
import path from 'node:path';

const root = process.argv[2];
if (!root || !fs.existsSync(root)) {
  console.error('usage: npx tsx scripts/experiments/loss-recipes-table.ts ROOT (the folder loss-recipes.sh wrote)');
  process.exit(2);
}
const ARMS: [string, string][] = [
  ['today', "today's loss"],
  ['positives', '--contrastive-positives concept'],
  ['smoothing', '--label-smoothing 0.1'],
];

interface Row { name: string; metrics: Record<string, number> }
interface Section { title: string; rows: Row[] }

const COLUMNS: { head: string; get: (s: Section[], val: number) => number | undefined; pct: boolean }[] = [
  { head: 'test-style T→I R@10', get: (s) => own(s, 'test-style')?.t2i_r10, pct: true },
  { head: 'test-concept T→I R@10', get: (s) => own(s, 'test-concept')?.t2i_r10, pct: true },
  { head: 'test-concept flat hit@1', get: (s) => own(s, 'test-concept, captions as classes (flat hit@k)')?.top1, pct: true },
  { head: 'test-concept CIDEr-D', get: (s) => own(s, 'test-concept')?.cider_d, pct: false },
  { head: 'test-style CIDEr-D', get: (s) => own(s, 'test-style')?.cider_d, pct: false },
  { head: 'val loss (plain)', get: (_s, val) => val, pct: false },
];

function own(sections: Section[], title: string): Record<string, number> | undefined {
  return sections.find((s) => s.title === title)?.rows.find((r) => r.name === 'coca')?.metrics;
}

function stats(xs: number[]): { n: number; mean: number; sd: number } {
  const n = xs.length;
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const sd = n > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : NaN;
  return { n, mean, sd };
}

const lines: string[] = [];
const perSeed: string[] = [];
lines.push(`| recipe | seeds | ${COLUMNS.map((c) => c.head).join(' | ')} |`, `|---|---|${COLUMNS.map(() => '---|').join('')}`);
perSeed.push(`| run | ${COLUMNS.map((c) => c.head).join(' | ')} |`, `|---|${COLUMNS.map(() => '---|').join('')}`);
for (const [arm, label] of ARMS) {
  const runs = fs.readdirSync(root).filter((d) => new RegExp(`^${arm}-s\\d+$`).test(d) && fs.existsSync(path.join(root, d, 'eval.json'))).sort();
  if (runs.length === 0) continue;
  const cols: number[][] = COLUMNS.map(() => []);
  for (const run of runs) {
    const sections = (JSON.parse(fs.readFileSync(path.join(root, run, 'eval.json'), 'utf8')) as { sections: Section[] }).sections;
    const vals = fs.readFileSync(path.join(root, run, 'val.jsonl'), 'utf8').trim().split('\n');
    const val = (JSON.parse(vals.at(-1)!) as { total: number }).total;
    const row = COLUMNS.map((c) => c.get(sections, val));
    row.forEach((v, i) => v !== undefined && cols[i]!.push(v));
    perSeed.push(`| ${run} | ${row.map((v, i) => (v === undefined ? '–' : COLUMNS[i]!.pct ? `${(100 * v).toFixed(1)} %` : v.toFixed(3))).join(' | ')} |`);
  }
  const cells = cols.map((xs, i) => {
    if (xs.length === 0) return '–';
    const s = stats(xs);
    const f = (v: number) => (COLUMNS[i]!.pct ? (100 * v).toFixed(1) : v.toFixed(3));
    return s.n > 1 ? `${f(s.mean)} ± ${f(s.sd)}${COLUMNS[i]!.pct ? ' %' : ''}` : `${f(s.mean)}${COLUMNS[i]!.pct ? ' %' : ''}`;
  });
  lines.push(`| ${label} | ${runs.map((r) => r.replace(/^.*-s/, '')).join(', ')} | ${cells.join(' | ')} |`);
}
console.log(lines.join('\n'));
console.log('\nPer run:\n');
console.log(perSeed.join('\n'));
