import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { alignedData, uplotSource, writeReport, type Series } from '../../src/util/report.ts';

describe('report.html', () => {
  it('aligns series of different steps on one x column, null where a series has no point', () => {
    const a: Series = { name: 'a', color: '#000', points: [[0, 1], [10, 2], [20, 3]] };
    const b: Series = { name: 'b', color: '#f00', points: [[5, 7], [20, Number.NaN], [10, 9]] };
    expect(alignedData([a, b])).toEqual([
      [0, 5, 10, 20],
      [1, null, 2, 3],
      [null, 7, 9, null],
    ]);
    expect(alignedData([])).toEqual([[]]);
  });

  it('holds the SVG for viewers without scripts, uPlot inlined (no URL to fetch) and the charts data a hostile name cannot break out of', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-report-'));
    const file = path.join(dir, 'report.html');
    const evil = '</script><img src=x onerror=alert(1)>';
    writeReport(file, 'run', { steps: 3 }, [{ title: 'loss', series: [{ name: evil, color: '#000', points: [[1, 2], [2, 1]] }] }]);
    const html = fs.readFileSync(file, 'utf8');
    fs.rmSync(dir, { recursive: true });
    expect(html).toMatch(/<div class="chart" id="chart-0"><svg /);
    const lib = uplotSource();
    expect(lib, 'the uplot package is a dependency').not.toBeNull();
    expect(html).toContain(lib!.css);
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href=|@import/);
    // Outside the scripts, the name is text: no element made of it.
    expect(html.replace(/<script>[\s\S]*?<\/script>/g, '')).not.toContain('<img');
    // Exactly the two script elements coca writes: the name's </script> was escaped.
    expect(html.match(/<\/script>/g)).toHaveLength(2);
    const payload = /const CHARTS = (.*);\n/.exec(html)![1]!;
    const charts = JSON.parse(payload.replace(/<\\\//g, '</')) as { series: { label: string }[]; data: number[][] }[];
    expect(charts[0]!.series[0]!.label).toBe(evil);
    expect(charts[0]!.data).toEqual([[1, 2], [2, 1]]);
  });
});
