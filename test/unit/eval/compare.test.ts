// coca compare: grouping runs by seed, mean ± sd, the table, the smoothed curves, the pages.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { againstReference, markdownTable, readRun, smooth, summarise, writeComparison, writeComparisonSvg } from '../../../src/eval/compare.ts';

function fakeRun(root: string, name: string, seed: number, loss: number[], styleR1?: number, trainer?: string): string {
  const dir = path.join(root, name);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'run.json'), JSON.stringify({ seed, ...(trainer ? { trainer } : {}) }));
  fs.writeFileSync(path.join(dir, 'log.jsonl'), loss.map((l, i) => JSON.stringify({ step: i + 1, total: 3 * l, contrastive: l, caption: l, logitScale: 2 + i * seed }) + '\n').join(''));
  if (styleR1 !== undefined) {
    const sections = [
      { title: 'test-style', rows: [{ name: 'coca', metrics: { t2i_r1: styleR1, cider_d: 0.5 } }, { name: 'nearest-neighbour caption', metrics: { cider_d: 0.25 } }] },
      { title: 'test-concept, captions as classes (flat hit@k)', rows: [{ name: 'coca', metrics: { top1: 0.1 } }, { name: 'chance', metrics: { top1: 0.01 } }] },
    ];
    fs.writeFileSync(path.join(dir, 'eval.json'), JSON.stringify({ sections }));
  }
  return dir;
}

describe('coca compare', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-compare-'));
  const a1 = fakeRun(root, 'coca-s1', 1, [4, 2], 0.04);
  const a2 = fakeRun(root, 'coca-s2', 2, [6, 4], 0.08);
  const b1 = fakeRun(root, 'torch-s1', 1, [5, 3], 0.05, 'pytorch 1.13');

  it('groups runs that differ only in their seed, with mean and sample sd', () => {
    const runs = [a1, a2, b1].map(readRun);
    expect(runs.map((r) => [r.group, r.trainer, r.seed])).toEqual([['coca', 'coca', 1], ['coca', 'coca', 2], ['torch', 'pytorch', 1]]);
    const [coca, torch] = summarise(runs);
    // final losses are means over the logged tail: (4+2)/2 = 3 and (6+4)/2 = 5 → mean 4, sd √2
    expect(coca!.stats.final_contrastive!.mean).toBeCloseTo(4, 12);
    expect(coca!.stats.final_contrastive!.sd).toBeCloseTo(Math.SQRT2, 12);
    expect(coca!.stats.style_t2i_r1!.mean).toBeCloseTo(0.06, 12);
    expect(coca!.stats.style_t2i_r1!.sd).toBeCloseTo(Math.sqrt(0.0008), 12);
    expect(coca!.stats.style_nn_cider_d!.values).toEqual([0.25, 0.25]);
    expect(coca!.stats.final_logit_scale!.values).toEqual([3, 4]); // the last logged value, not a mean
    expect(coca!.stats.concept_flat_top1!.mean).toBeCloseTo(0.1, 12);
    expect(torch!.stats.style_t2i_r1).toEqual({ mean: 0.05, sd: 0, values: [0.05] });
    const table = markdownTable([coca!, torch!]);
    expect(table).toContain('| coca | 2 | 4.000 ± 1.414 | 4.000 ± 1.414 | 3.500 ± 0.707 |');
    expect(table).toContain('| 6.0 ± 2.8 |');
    expect(table).toMatch(/\| torch \| 1 \| 4\.000 \| 4\.000 \| 3\.000 \| 5\.0 \|/);
    expect(table).not.toContain('F-MNIST');
  });

  it('tests each group against the spread of a reference group', () => {
    const groups = summarise([a1, a2, b1].map(readRun));
    const t = againstReference(groups, 'coca');
    // torch's contrastive loss 4 equals coca's mean (z 0); its style R@1 5 % is (5-6)/2.83 = -0.35 sd
    expect(t).toContain('| train con loss | 4.000 ± 1.414 | torch | 4.000 | 0.00 | yes |');
    expect(t).toContain('| style T→I R@1 | 6.0 ± 2.8 | torch | 5.0 | -0.35 | yes |');
    const far = againstReference(groups, 'coca', 0.1);
    expect(far).toContain('| style T→I R@1 | 6.0 ± 2.8 | torch | 5.0 | -0.35 | no |');
    expect(() => againstReference(groups, 'torch')).toThrow(/one run/);
    expect(() => againstReference(groups, 'jax')).toThrow(/no group named jax/);
  });

  it('smooths with a trailing moving average', () => {
    expect(smooth([[1, 1], [2, 3], [3, 5], [4, 7]], 2)).toEqual([[1, 1], [2, 2], [3, 4], [4, 6]]);
    expect(smooth([[1, 1], [2, 3]], 1)).toEqual([[1, 1], [2, 3]]);
  });

  it('writes a page and an SVG with one curve per run', () => {
    const runs = [a1, a2, b1].map(readRun);
    const html = path.join(root, 'c.html');
    const svg = path.join(root, 'c.svg');
    writeComparison(html, runs, 1);
    writeComparisonSvg(svg, runs, 1);
    const page = fs.readFileSync(html, 'utf8');
    // three loss charts and the logit scale × three runs; the runs have no validation
    expect(page.match(/<polyline/g)!.length).toBe(4 * 3);
    expect(page).toContain('coca-s1, coca-s2');
    expect(fs.readFileSync(svg, 'utf8').match(/<polyline/g)!.length).toBe(12);
  });

  it('refuses a folder that is not a run, in one line', () => {
    const r = spawnSync(process.execPath, ['bin/coca.js', 'compare', root], { encoding: 'utf8', timeout: 120_000 });
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toBe(`coca: ${root} is not a training run (no run.json and log.jsonl); give folders written by coca train or coca_torch.py --train`);
  });
});
