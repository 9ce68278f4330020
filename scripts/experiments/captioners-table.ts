// The table of scripts/experiments/captioners.sh, from its runs' eval.json and status files:
// BLEU-1..4 and CIDEr-D per split, mean ± sd over seeds (sd with n − 1), the nearest-neighbour
// caption and random-caption chance rows from the CoCa runs' evals, train wall time per run; then
// which model differences on CIDEr-D and BLEU-1 lie outside the seed spread (|Δ| > 2 × the larger
// of the two sds, and both groups with ≥ 2 seeds).
//   npx tsx scripts/experiments/captioners-table.ts ROOT
import fs from 'node:fs';
import path from 'node:path';

const root = process.argv[2];
if (!root || !fs.existsSync(root)) {
  console.error('usage: npx tsx scripts/experiments/captioners-table.ts ROOT (the folder captioners.sh wrote)');
  process.exit(2);
}
const MODELS: [string, string][] = [
  ['coca', 'CoCa (ViT)'],
  ['showtell', 'Show and Tell (ViT)'],
  ['sat', 'Show-Attend-Tell (ViT)'],
  ['sat-cnn', 'Show-Attend-Tell (CNN)'],
  ['prefix', 'prefix captioner (CoCa s·\'s frozen ViT)'],
];
const METRICS = ['bleu1', 'bleu2', 'bleu3', 'bleu4', 'cider_d'];
const SPLITS = ['test-concept', 'test-style'];

interface Row { name: string; metrics: Record<string, number> }
interface Section { title: string; sizes: Record<string, number>; rows: Row[] }

const walls = new Map<string, number>();
for (const line of fs.existsSync(path.join(root, 'status')) ? fs.readFileSync(path.join(root, 'status'), 'utf8').split('\n') : []) {
  const m = /^(\S+) s(\d+) train_wall (\d+)$/.exec(line);
  if (m) walls.set(`${m[1]}-s${m[2]}`, Number(m[3]));
}
const runs = fs.readdirSync(root).filter((d) => fs.existsSync(path.join(root, d, 'eval.json')));
const evalOf = (run: string): Section[] => JSON.parse(fs.readFileSync(path.join(root, run, 'eval.json'), 'utf8')).sections;

function stats(xs: number[]): { mean: number; sd: number; n: number } {
  const n = xs.length;
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const sd = n > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : NaN;
  return { mean, sd, n };
}
const fmt = (s: { mean: number; sd: number; n: number }) => (s.n > 1 ? `${s.mean.toFixed(3)} ± ${s.sd.toFixed(3)}` : s.mean.toFixed(3));

/** Per model: per split, per metric, the values over its seeds. */
const values = new Map<string, Map<string, Map<string, number[]>>>();
function add(model: string, split: string, metric: string, v: number) {
  const m = values.get(model) ?? new Map();
  values.set(model, m);
  const s = m.get(split) ?? new Map();
  m.set(split, s);
  s.set(metric, [...(s.get(metric) ?? []), v]);
}
for (const [model] of MODELS) {
  for (const run of runs.filter((r) => new RegExp(`^${model}-s\\d+$`).test(r)).sort()) {
    for (const sec of evalOf(run)) {
      if (!SPLITS.includes(sec.title)) continue;
      const own = sec.rows[0]!;
      for (const k of METRICS) if (own.metrics[k] !== undefined) add(model, sec.title, k, own.metrics[k]!);
      if (model !== 'coca') continue;
      for (const row of sec.rows.slice(1)) {
        const base = row.name === 'nearest-neighbour caption' ? 'nn' : row.name === 'chance' ? 'chance' : undefined;
        if (base) for (const k of METRICS) if (row.metrics[k] !== undefined) add(base, sec.title, k, row.metrics[k]!);
      }
    }
  }
}
const label = new Map<string, string>([...MODELS, ['nn', 'nearest-neighbour caption (CoCa s·\'s embedding)'], ['chance', 'chance: a random training caption (mean of 5 draws)']]);
const seedsOf = (model: string) => runs.filter((r) => new RegExp(`^${model}-s\\d+$`).test(r)).length;

const sizes = new Map<string, number>();
for (const sec of runs.length ? evalOf(runs.find((r) => r.startsWith('coca-')) ?? runs[0]!) : []) if (SPLITS.includes(sec.title)) sizes.set(sec.title, sec.sizes['images']!);

console.log(`| split (images) | model | seeds (runs) | BLEU-1 | BLEU-2 | BLEU-3 | BLEU-4 | CIDEr-D | train wall / run |`);
console.log(`|---|---|---|---|---|---|---|---|---|`);
for (const split of SPLITS) {
  for (const model of [...MODELS.map(([m]) => m), 'nn', 'chance']) {
    const v = values.get(model)?.get(split);
    if (!v) continue;
    const wall = MODELS.some(([m]) => m === model)
      ? runs.filter((r) => new RegExp(`^${model}-s\\d+$`).test(r)).sort().map((r) => (walls.has(r) ? `${walls.get(r)} s` : '–')).join(' / ')
      : '';
    // The baselines' rows come from the CoCa runs' evals (chance is the same draws for every model: one eval may carry it).
    const seeds = MODELS.some(([m]) => m === model) ? seedsOf(model) : (v.get('cider_d') ?? []).length;
    console.log(`| ${split} (${sizes.get(split) ?? '?'}) | ${label.get(model)} | ${seeds} | ${METRICS.map((k) => fmt(stats(v.get(k) ?? []))).join(' | ')} | ${wall} |`);
  }
}

// Split-free figures per model: the validation caption loss at the last step (val.jsonl; the same
// 310 val pairs, tokenizer and per-token cross-entropy for every model) and the median step time.
console.log('\n| model | seeds | val caption loss | median ms / step |');
console.log('|---|---|---|---|');
for (const [model, name] of MODELS) {
  const rs = runs.filter((r) => new RegExp(`^${model}-s\\d+$`).test(r)).sort();
  if (rs.length === 0) continue;
  const lastLine = (file: string) => JSON.parse(fs.readFileSync(file, 'utf8').trim().split('\n').at(-1)!);
  const val = rs.filter((r) => fs.existsSync(path.join(root, r, 'val.jsonl'))).map((r) => lastLine(path.join(root, r, 'val.jsonl')).caption as number);
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
  const ms = rs.map((r) => median(fs.readFileSync(path.join(root, r, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).ms as number).filter((x) => Number.isFinite(x))));
  console.log(`| ${name} | ${rs.length} | ${fmt(stats(val))} | ${ms.map((x) => x.toFixed(0)).join(' / ')} |`);
}

console.log('\nOutside the seed spread (|Δ mean| > 2 × the larger sd), CIDEr-D and BLEU-1:');
const all = [...MODELS.map(([m]) => m), 'nn', 'chance'];
for (const split of SPLITS) {
  for (const k of ['cider_d', 'bleu1']) {
    for (let i = 0; i < all.length; i++) {
      for (let j = i + 1; j < all.length; j++) {
        const a = values.get(all[i]!)?.get(split)?.get(k);
        const b = values.get(all[j]!)?.get(split)?.get(k);
        if (!a || !b || a.length < 2 || b.length < 2) continue;
        const sa = stats(a), sb = stats(b);
        const spread = Math.max(sa.sd, sb.sd);
        const d = sa.mean - sb.mean;
        const out = Math.abs(d) > 2 * spread;
        console.log(`  ${split} ${k}: ${all[i]} ${sa.mean.toFixed(3)} vs ${all[j]} ${sb.mean.toFixed(3)}: Δ ${d.toFixed(3)}, larger sd ${spread.toFixed(3)} → ${out ? 'OUTSIDE' : 'inside'}`);
      }
    }
  }
}
