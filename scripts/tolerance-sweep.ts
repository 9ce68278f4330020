// How close each tolerance check of some test files comes to failing, over many seeds: runs
// `vitest run <files>` once per seed (COCA_SEED) with COCA_TOL_LOG set (test/helpers/close.ts logs
// every expectClose's worst error / tolerance ratio) and prints the comparisons nearest to 1, with
// their median over the seeds. A check whose worst ratio grows with the number of seeds, far above
// its median, depends on the draw and is a flake in waiting.
//   npx tsx scripts/tolerance-sweep.ts --seeds 1000-1019 [--top 30] test/kernels/a.test.ts ...
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(name);
  return i < 0 ? dflt : args.splice(i, 2)[1]!;
};
const [from, to] = opt('--seeds', '1-10').split('-').map(Number) as [number, number];
const top = Number(opt('--top', '30'));
if (!args.length || !(to >= from)) {
  console.error('usage: npx tsx scripts/tolerance-sweep.ts --seeds FROM-TO [--top N] test files...');
  process.exit(2);
}
const log = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'coca-tol-')), 'ratios.tsv');
for (let seed = from; seed <= to; seed++) {
  const r = spawnSync('npx', ['vitest', 'run', ...args, '--maxWorkers=1'], { env: { ...process.env, COCA_SEED: String(seed), COCA_TOL_LOG: log }, encoding: 'utf8' });
  console.log(`seed ${seed}: ${r.status === 0 ? 'passed' : `FAILED (exit ${r.status})`}`);
}
const ratios = new Map<string, { seed: string; ratio: number }[]>();
for (const line of fs.readFileSync(log, 'utf8').split('\n').filter(Boolean)) {
  const [seed, file, what, ratio] = line.split('\t') as [string, string, string, string];
  const key = `${file}  ${what}`;
  ratios.set(key, [...(ratios.get(key) ?? []), { seed, ratio: Number(ratio) }]);
}
const rows = [...ratios].map(([key, v]) => {
  const sorted = v.map((x) => x.ratio).sort((a, b) => a - b);
  const worst = v.reduce((a, b) => (b.ratio > a.ratio ? b : a));
  return { key, worst, median: sorted[sorted.length >> 1]!, n: v.length };
});
rows.sort((a, b) => b.worst.ratio - a.worst.ratio);
console.log('worst   median  runs  (seed)  check');
for (const r of rows.slice(0, top)) console.log(`${r.worst.ratio.toFixed(3).padStart(6)}  ${r.median.toFixed(3).padStart(6)}  ${String(r.n).padStart(4)}  (${r.worst.seed})  ${r.key}`);
console.log(`ratios of every check in ${log}`);
