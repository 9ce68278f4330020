// coca compare's numbers, cases the mutation run (docs/mutation.md) showed untested: which runs
// form a group, the final-loss window, the sample sd, and the test against a reference group's
// spread. Expected values are worked out by hand beside each.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { againstReference, CompareError, markdownTable, readRun, summarise, writeComparison, writeComparisonSvg, type GroupStat, type RunSummary } from '../../../src/eval/compare.ts';
import { CocaError } from '../../../src/util/errors.ts';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-compare-m-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

function run(name: string, rows: Record<string, number>[], evalSections?: unknown[], record: Record<string, unknown> = { seed: 1 }): string {
  const dir = path.join(root, name);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'run.json'), JSON.stringify(record));
  fs.writeFileSync(path.join(dir, 'log.jsonl'), rows.map((r) => JSON.stringify(r) + '\n').join(''));
  if (evalSections) fs.writeFileSync(path.join(dir, 'eval.json'), JSON.stringify({ sections: evalSections }));
  return dir;
}
const rowsOf = (n: number, total: (i: number) => number) => Array.from({ length: n }, (_, i) => ({ step: i + 1, total: total(i), contrastive: 0, caption: 0 }));

describe('coca compare: reading a run', () => {
  it('groups by the name less a trailing -sN / _seedN only', () => {
    const group = (name: string) => readRun(run(name, rowsOf(1, () => 1))).group;
    expect(group('base-s12')).toBe('base');
    expect(group('base_seed3')).toBe('base');
    expect(group('base-s12x')).toBe('base-s12x');
    expect(group('base-s1-long')).toBe('base-s1-long');
  });

  it('final losses are the mean of the last 50 logged steps; no logit scale logged, none reported', () => {
    // totals 0..59: the last 50 are 10..59, mean 34.5 (the whole log's mean would be 29.5).
    const r = readRun(run('window', rowsOf(60, (i) => i)));
    expect(r.metrics.final_total).toBe(34.5);
    expect('final_logit_scale' in r.metrics).toBe(false);
    expect(readRun(run('empty', [])).metrics).toEqual({});
  });

  it('names Fashion-MNIST metrics fmnist_, the trainer pytorch only for a pytorch record', () => {
    const sections = [{ title: 'test-fmnist (zero-shot)', rows: [{ name: 'coca', metrics: { top1: 0.3 } }] }];
    const r = readRun(run('fm', rowsOf(1, () => 1), sections, { seed: 2, trainer: 'pytorch 2.1' }));
    expect(r.metrics.fmnist_top1).toBe(0.3);
    expect(r.trainer).toBe('pytorch');
    expect(readRun(run('ours', rowsOf(1, () => 1), undefined, { seed: 1, trainer: 'coca 0.3' })).trainer).toBe('coca');
    expect(readRun(run('plain', rowsOf(1, () => 1), undefined, {})).seed).toBeNull();
    expect(() => readRun(path.join(root, 'nothing'))).toThrow(`${path.join(root, 'nothing')} is not a training run (no run.json and log.jsonl); give folders written by coca train or coca_torch.py --train`);
    fs.mkdirSync(path.join(root, 'half'));
    fs.writeFileSync(path.join(root, 'half', 'run.json'), '{}');
    expect(() => readRun(path.join(root, 'half'))).toThrow(/is not a training run/);
  });

  it('each eval section under its own split: the three built-in test splits by their short name, any other split by its own', () => {
    const coca = (metrics: Record<string, number>) => [{ name: 'coca', metrics }];
    const sections = [
      { title: 'test-style', rows: coca({ t2i_r1: 0.1 }) },
      { title: 'test-concept, captions as classes (flat hit@k)', rows: coca({ top1: 0.2 }) },
      { title: 'val', rows: [...coca({ t2i_r1: 0.3 }), { name: 'nearest-neighbour caption', metrics: { cider_d: 0.4 } }] },
      { title: 'mine (zero-shot, 7 prompt templates)', rows: coca({ top1: 0.5 }) },
      { title: 'test-fmnist (zero-shot, 7 prompt templates)', rows: [{ name: 'chance', metrics: { top1: 0.1 } }] },
    ];
    const { final_total, final_contrastive, final_caption, ...evalOnly } = readRun(run('splits', rowsOf(1, () => 1), sections)).metrics;
    expect([final_total, final_contrastive, final_caption]).toEqual([1, 0, 0]);
    // A split's metrics never land under another split's name; a section without a coca row adds nothing.
    expect(evalOnly).toEqual({ style_t2i_r1: 0.1, concept_flat_top1: 0.2, val_t2i_r1: 0.3, val_nn_cider_d: 0.4, mine_top1: 0.5 });
  });

  it('its errors are CompareErrors: a CocaError, named so', () => {
    let caught: unknown;
    try {
      readRun(path.join(root, 'nothing'));
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(CompareError);
    expect(caught).toBeInstanceOf(CocaError);
    expect((caught as Error).name).toBe('CompareError');
  });
});

const summary = (name: string, group: string, metrics: Record<string, number>): RunSummary => ({ dir: name, name, group, trainer: 'coca', seed: 1, log: [], val: [], metrics });

describe('coca compare: statistics', () => {
  it('mean and sample sd (n − 1) over the finite values only', () => {
    // 1, 2, 6 (NaN left out): mean 3, sd √((4 + 1 + 9)/2) = √7.
    const [g] = summarise([summary('a', 'g', { final_total: 1 }), summary('b', 'g', { final_total: 2 }), summary('c', 'g', { final_total: 6 }), summary('d', 'g', { final_total: NaN })]);
    expect(g!.stats.final_total!.values).toEqual([1, 2, 6]);
    expect(g!.stats.final_total!.mean).toBe(3);
    expect(g!.stats.final_total!.sd).toBeCloseTo(Math.sqrt(7), 14);
    expect(summarise([summary('a', 'g', { final_total: NaN })])[0]!.stats).toEqual({});
  });

  const stat = (mean: number, sd: number, n: number) => ({ mean, sd, values: Array.from({ length: n }, () => mean) });
  const group = (name: string, n: number, stats: GroupStat['stats']): GroupStat => ({ group: name, runs: Array.from({ length: n }, (_, i) => `${name}-s${i}`), stats });

  it('against a reference: the difference in its sd, within k sd inclusive; equal means with no spread are 0, others ∞', () => {
    const ref = group('torch', 3, { final_contrastive: stat(2, 0.5, 3), final_caption: stat(1, 0, 3), final_logit_scale: stat(4, 0, 3) });
    const ours = group('coca', 2, { final_contrastive: stat(3, 0.1, 2), final_caption: stat(1, 0, 2), final_logit_scale: stat(4.5, 0, 2) });
    const lines = againstReference([ref, ours], 'torch').split('\n');
    expect(lines[0]).toBe('| metric | torch (3 runs) | group | mean | difference / sd of torch | within 2 sd |');
    expect(lines[1]).toBe('|---|---:|---|---:|---:|:---:|');
    // (3 − 2)/0.5 = 2.00: exactly k, within. Equal means without spread: 0. Different ones: ∞.
    expect(lines.slice(2)).toEqual([
      '| train con loss | 2.000 ± 0.500 | coca | 3.000 ± 0.100 | 2.00 | yes |',
      '| train cap loss | 1.000 ± 0.000 | coca | 1.000 ± 0.000 | 0.00 | yes |',
      '| logit scale | 4.000 ± 0.000 | coca | 4.500 ± 0.000 | ∞ | no |',
    ]);
    expect(againstReference([ref, ours], 'torch', 1.5).split('\n')[2]).toMatch(/\| 2\.00 \| no \|$/);
  });

  it('against a reference: a column only one side has is left out, not a crash, and the other columns still compared', () => {
    const ref = group('torch', 2, { final_contrastive: stat(2, 0.5, 2), style_t2i_r1: stat(0.5, 0.1, 2) });
    const ours = group('coca', 2, { final_contrastive: stat(2.5, 0, 2), final_caption: stat(1, 0, 2) });
    const theirs = group('jax', 2, { style_t2i_r1: stat(0.3, 0, 2) });
    expect(againstReference([ref, ours, theirs], 'torch').split('\n').slice(2)).toEqual([
      '| train con loss | 2.000 ± 0.500 | coca | 2.500 ± 0.000 | 1.00 | yes |', // (2.5 − 2)/0.5
      '| style T→I R@1 | 50.0 ± 10.0 | jax | 30.0 ± 0.0 | -2.00 | yes |', // (0.3 − 0.5)/0.1
    ]);
  });

  it('against a reference: a metric only one reference run has (no spread to measure) is said so, not called ∞ sd away', () => {
    // torch-s1 has an eval.json, torch-s2 none: two runs, but style R@1 has one value.
    const runs = [summary('torch-s1', 'torch', { final_contrastive: 2, style_t2i_r1: 0.5 }), summary('torch-s2', 'torch', { final_contrastive: 4 }), summary('coca-s1', 'coca', { final_contrastive: 3, style_t2i_r1: 0.6 })];
    expect(againstReference(summarise(runs), 'torch').split('\n').slice(2)).toEqual([
      '| train con loss | 3.000 ± 1.414 | coca | 3.000 | 0.00 | yes |', // mean of 2 and 4, sd √2
      '| style T→I R@1 | 50.0 | coca | 60.0 | — | no spread: 1 run of torch has it |',
    ]);
  });

  it('against a reference that is not there: the message lists the groups there are', () => {
    const g = [group('a', 2, {}), group('b', 3, {})];
    expect(() => againstReference(g, 'c')).toThrow(new CompareError('no group named c; the groups are a, b'));
  });

  it('the Markdown table: a heading per column some group has, percentages marked, a missing value a dash', () => {
    const a = group('a', 1, { final_contrastive: stat(2, 0, 1), style_t2i_r1: stat(0.25, 0, 1) });
    const b = group('b', 1, { final_contrastive: stat(3, 0, 1) });
    expect(markdownTable([a, b]).split('\n')).toEqual([
      '| group | runs | train con loss | style T→I R@1 (%) |',
      '|---|---|---:|---:|',
      '| a | 1 | 2.000 | 25.0 |',
      '| b | 1 | 3.000 | — |',
    ]);
  });
});

/** Every polyline of an SVG or page: its stroke and its points. */
const polylines = (svg: string) => [...svg.matchAll(/<polyline fill="none" stroke="([^"]*)" stroke-width="1.5" points="([^"]*)"\/>/g)].map((m) => ({ stroke: m[1]!, points: m[2]!.split(' ') }));
/** The y-axis labels of each chart, lowest first (the chart spans the data it draws). */
const yLabels = (svg: string) => [...svg.matchAll(/<svg width[^>]*>.*?<\/svg>/g)].map((c) => [...c[0].matchAll(/<text x="4" y="[^"]*" font-size="10">([^<]*)<\/text>/g)].map((m) => Number(m[1])));

describe('coca compare: the page and the picture', () => {
  // Steps 1..1001: the total loss alternates 10, 12 (a moving average of 2 is 11 after the first
  // step); the logit scale alternates 2, 4 and is logged on odd steps only in run b.
  const steps = 1001;
  const log = (scaleEvery: number) =>
    Array.from({ length: steps }, (_, i) => ({ step: i + 1, total: i % 2 ? 12 : 10, contrastive: 5, caption: 7, ...(i % scaleEvery === 0 ? { logitScale: i % 4 ? 4 : 2 } : {}) }));
  const dirs = [run('pic-a-s1', log(1)), run('pic-a-s2', log(1)), run('pic-b', log(2))];
  fs.writeFileSync(path.join(dirs[2]!, 'val.jsonl'), [{ step: 500, total: 11.5, contrastive: 5, caption: 6.5 }, { step: 1000, total: 11, contrastive: 5, caption: 6 }].map((r) => JSON.stringify(r) + '\n').join(''));
  const runs = () => dirs.map(readRun);

  it('the SVG: four charts stacked, each run thinned to at most 400 points (first and last kept), one colour per group', () => {
    const file = path.join(root, 'pic.svg');
    writeComparisonSvg(file, runs(), 2);
    const svg = fs.readFileSync(file, 'utf8');
    const inner = [...svg.matchAll(/<svg width="(\d+)" height="(\d+)"/g)].map((m) => [Number(m[1]), Number(m[2])]);
    expect(inner.length).toBe(5); // the picture and its four charts
    const [[W, H], ...charts] = inner as [number, number][];
    expect(charts.every(([w]) => w === W)).toBe(true);
    const h = charts[0]![1];
    expect(H).toBe(4 * h);
    expect([...svg.matchAll(/<g transform="translate\(0 (\d+)\)">/g)].map((m) => Number(m[1]))).toEqual([0, h, 2 * h, 3 * h]);
    expect(svg).toMatch(/^<svg [^>]*><g [^>]*><svg .*<\/svg><\/g><g [^>]*><svg .*<\/svg><\/g><g [^>]*><svg .*<\/svg><\/g><g [^>]*><svg .*<\/svg><\/g><\/svg>\n$/);
    const lines = polylines(svg);
    expect(lines.length).toBe(4 * 3);
    // 1001 points → every 3rd (ceil(1001 / 400)), 0..999, and the last: 335.
    for (const l of lines.slice(0, 9)) expect(l.points.length).toBe(335);
    // Logit scale: 1001 points in a, 501 in b (every 2nd of them, ceil(501 / 400) = 2: 251).
    expect(lines.slice(9).map((l) => l.points.length)).toEqual([335, 335, 251]);
    expect(svg).not.toContain('NaN');
    // Each chart: a's two runs share a colour, b has another.
    for (let c = 0; c < 4; c++) {
      const [a1, a2, b] = lines.slice(3 * c, 3 * c + 3);
      expect(a1!.stroke).toBe(a2!.stroke);
      expect(b!.stroke).not.toBe(a1!.stroke);
    }
    // Losses smoothed over 2 steps (10, 11, 11, …: the charts span 10 to 11), the logit scale raw (2 to 4).
    const labels = yLabels(svg);
    expect(labels.map((l) => [l[0], l[4]])).toEqual([
      [10, 11],
      [5, 5],
      [7, 7],
      [2, 4],
    ]);
    const captions = [...svg.matchAll(/<text x="40" y="\d+" font-size="10">([^<]*)<\/text>/g)].map((m) => m[1]);
    expect(captions.slice(0, 3)).toEqual(['total training loss, moving average of 2 steps', 'contrastive training loss, moving average of 2 steps', 'captioning training loss, moving average of 2 steps']);
    expect(captions[3]).toMatch(/^logit scale/);
  });

  it('up to 400 points drawn as they are; runs with nothing logged leave their charts empty', () => {
    const short = run('short', Array.from({ length: 400 }, (_, i) => ({ step: i + 1, total: i, contrastive: 0, caption: 0 })));
    const file = path.join(root, 'short.svg');
    writeComparisonSvg(file, [readRun(short)], 1);
    expect(polylines(fs.readFileSync(file, 'utf8')).map((l) => l.points.length)).toEqual([400, 400, 400]);
    writeComparisonSvg(file, [readRun(run('nothing-logged', []))], 1);
    const empty = fs.readFileSync(file, 'utf8');
    expect(empty).toMatch(/^<svg width="\d+" height="\d+" xmlns="http:\/\/www.w3.org\/2000\/svg">(<g transform="translate\(0 \d+\)"><\/g>){4}<\/svg>\n$/);
  });

  it('more groups than colours: every curve still has a colour', () => {
    const many = Array.from({ length: 12 }, (_, i) => readRun(run(`group${i}`, rowsOf(3, (k) => k))));
    const file = path.join(root, 'many.svg');
    writeComparisonSvg(file, many, 1);
    const strokes = polylines(fs.readFileSync(file, 'utf8')).slice(0, 12).map((l) => l.stroke);
    for (const s of strokes) expect(s).toMatch(/^#[0-9a-f]{6}$/);
    expect(new Set(strokes.slice(0, 10)).size).toBe(10);
  });

  it('the page: the groups and their runs, the table (with < escaped), the charts spanning their data, the validation loss of the runs that have one', () => {
    const file = path.join(root, 'pic.html');
    const odd = run('x<y-s1', log(1));
    writeComparison(file, [...runs(), readRun(odd)], 2);
    const page = fs.readFileSync(file, 'utf8');
    expect(page).toContain('<title>coca compare</title>');
    expect(page).toContain('<tr><td>pic-a</td><td>pic-a-s1, pic-a-s2</td></tr><tr><td>pic-b</td><td>pic-b</td></tr>');
    expect(page).toContain('<h3>summary (mean ± sd over the runs of each group)</h3><pre>| group | runs | train con loss | train cap loss | logit scale |');
    expect(page).toContain('| x&lt;y | 1 | 5.000 | 7.000 |');
    expect(page).not.toMatch(/<pre>[^]*x<y[^]*<\/pre>/);
    const lines = polylines(page);
    expect(lines.length).toBe(4 * 4 + 1); // four charts of four runs, and b's validation
    expect(lines[16]!.points.length).toBe(2);
    expect(lines[16]!.stroke).toBe(lines[2]!.stroke);
    expect(page).not.toContain('NaN');
    const labels = yLabels(page);
    expect(labels.map((l) => [l[0], l[4]])).toEqual([
      [10, 11],
      [5, 5],
      [7, 7],
      [2, 4],
      [11, 11.5],
    ]);
    // Its legend names only the group that has a validation curve.
    const validation = page.slice(page.indexOf('<h3>validation loss, total</h3>'));
    expect([...validation.matchAll(/<text x="\d+" y="14" font-size="11" fill="[^"]*">([^<]*)<\/text>/g)].map((m) => m[1])).toEqual(['pic-b']);
    writeComparison(file, [readRun(dirs[0]!)], 2);
    expect(fs.readFileSync(file, 'utf8')).toMatch(/<h3>validation loss, total<\/h3>(<div [^>]*>)?<p>no data yet<\/p>/);
  });
});
