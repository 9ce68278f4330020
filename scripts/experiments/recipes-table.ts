// The table of scripts/experiments/recipes.sh, from its runs' eval.json and val.jsonl: per arm,
// mean ± sd over seeds (sd with n − 1) of test-style and test-concept text→image R@10,
// test-concept flat hit@1, CIDEr-D on both, and the last validation loss (always the plain loss,
// whatever the recipe trained on); the seeds each row holds; then the per-seed values.
//   npx tsx scripts/experiments/recipes-table.ts ROOT [ARM...]   (runs are ROOT/ARM-sN; default: every arm)
import fs from 'node:fs';
import path from 'node:path';

const LABELS: Record<string, string> = {
  today: "today's recipe",
  positives: '--contrastive-positives concept',
  smoothing: '--label-smoothing 0.1',
  augment: '--augment colour,grey,blur',
  ema: '--ema 0.999',
};

const [root, ...armArgs] = process.argv.slice(2);
const arms = armArgs.length > 0 ? armArgs : Object.keys(LABELS);
const unknown = arms.filter((a) => !(a in LABELS));
if (!root || !fs.existsSync(root) || unknown.length > 0) {
  console.error(`usage: npx tsx scripts/experiments/recipes-table.ts ROOT [ARM...] (ROOT: the folder recipes.sh wrote; arms: ${Object.keys(LABELS).join(', ')})`);
  process.exit(2);
}

interface Section {
  title: string;
  rows: { name: string; metrics: Record<string, number> }[];
}

const own = (sections: Section[], title: string) => sections.find((s) => s.title === title)?.rows.find((r) => r.name === 'coca')?.metrics;

const COLUMNS: { head: string; get: (s: Section[], val: number) => number | undefined; pct: boolean }[] = [
  { head: 'test-style T→I R@10', get: (s) => own(s, 'test-style')?.t2i_r10, pct: true },
  { head: 'test-concept T→I R@10', get: (s) => own(s, 'test-concept')?.t2i_r10, pct: true },
  { head: 'test-concept flat hit@1', get: (s) => own(s, 'test-concept, captions as classes (flat hit@k)')?.top1, pct: true },
  { head: 'test-concept CIDEr-D', get: (s) => own(s, 'test-concept')?.cider_d, pct: false },
  { head: 'test-style CIDEr-D', get: (s) => own(s, 'test-style')?.cider_d, pct: false },
  { head: 'val loss (plain)', get: (_s, val) => val, pct: false },
];

const fmt = (v: number, pct: boolean) => (pct ? `${(100 * v).toFixed(1)} %` : v.toFixed(3));

function meanSd(xs: number[], pct: boolean): string {
  const n = xs.length;
  if (n === 0) return '–';
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  if (n === 1) return fmt(mean, pct);
  const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1));
  return `${fmt(mean, pct)} ± ${pct ? (100 * sd).toFixed(1) : sd.toFixed(3)}`;
}

const table = [`| recipe | seeds | ${COLUMNS.map((c) => c.head).join(' | ')} |`, `|---|---|${COLUMNS.map(() => '---|').join('')}`];
const perSeed = [`| run | ${COLUMNS.map((c) => c.head).join(' | ')} |`, `|---|${COLUMNS.map(() => '---|').join('')}`];
for (const arm of arms) {
  const runs = fs.readdirSync(root).filter((d) => new RegExp(`^${arm}-s\\d+$`).test(d) && fs.existsSync(path.join(root, d, 'eval.json'))).sort();
  if (runs.length === 0) continue;
  const cols: number[][] = COLUMNS.map(() => []);
  for (const run of runs) {
    const sections = (JSON.parse(fs.readFileSync(path.join(root, run, 'eval.json'), 'utf8')) as { sections: Section[] }).sections;
    const vals = fs.readFileSync(path.join(root, run, 'val.jsonl'), 'utf8').trim().split('\n');
    const val = (JSON.parse(vals.at(-1)!) as { total: number }).total;
    const row = COLUMNS.map((c) => c.get(sections, val));
    row.forEach((v, i) => v !== undefined && cols[i]!.push(v));
    perSeed.push(`| ${run} | ${row.map((v, i) => (v === undefined ? '–' : fmt(v, COLUMNS[i]!.pct))).join(' | ')} |`);
  }
  table.push(`| ${LABELS[arm]} | ${runs.map((r) => r.slice(r.lastIndexOf('-s') + 2)).join(', ')} | ${cols.map((xs, i) => meanSd(xs, COLUMNS[i]!.pct)).join(' | ')} |`);
}
console.log([...table, '', ...perSeed].join('\n'));
