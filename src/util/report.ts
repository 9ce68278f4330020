// report.html: the loss curves and validation metrics of a run, rewritten as training goes, so a
// person can open it at any time with no server and no internet. Each chart is drawn twice: as
// inline SVG (what a page without scripts, or a file viewer, shows) and, where scripts run, as an
// interactive uPlot chart (axes, zoom, the values under the cursor), the library inlined from
// the package so nothing is fetched.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { writeFileAtomic } from './atomic.ts';
import { escapeHtml } from './escape.ts';

export interface Series {
  name: string;
  color: string;
  points: [number, number][];
  /** Legend entry (default: name); series sharing one are listed once, e.g. the seeds of one arm. */
  legend?: string;
}

export interface ReportChart {
  title: string;
  series: Series[];
  fitY?: boolean;
  /** The y axis's label (default: the title). */
  yLabel?: string;
}

function chart(c: ReportChart, i: number): string {
  const svg = svgChart(c.series, 640, 260, '', c.fitY);
  return `<h3>${escapeHtml(c.title)}</h3><div class="chart" id="chart-${i}">${svg ?? '<p>no data yet</p>'}</div>`;
}

let uplot: { js: string; css: string } | null | undefined;
/** uPlot's script and style from the installed package, or null where it is missing (SVG only then). */
export function uplotSource(): { js: string; css: string } | null {
  if (uplot !== undefined) return uplot;
  try {
    const req = createRequire(import.meta.url);
    uplot = { js: fs.readFileSync(req.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8'), css: fs.readFileSync(req.resolve('uplot/dist/uPlot.min.css'), 'utf8') };
  } catch {
    uplot = null;
  }
  return uplot;
}

/**
 * The charts' data as uPlot wants it: one shared x column (the union of every series' steps) and
 * one y column per series, null where a series has no point at that step.
 */
export function alignedData(series: Series[]): (number | null)[][] {
  const xs = [...new Set(series.flatMap((s) => s.points.map(([x]) => x)))].sort((a, b) => a - b);
  const at = new Map(xs.map((x, i) => [x, i]));
  return [
    xs,
    ...series.map((s) => {
      const col: (number | null)[] = new Array(xs.length).fill(null);
      for (const [x, y] of s.points) col[at.get(x)!] = Number.isFinite(y) ? y : null;
      return col;
    }),
  ];
}

// Runs in the page: replaces each SVG by a uPlot chart of the same data.
const DRAW = `window.cocaCharts = [];
for (const [i, c] of CHARTS.entries()) {
  const el = document.getElementById('chart-' + i);
  if (!el || c.data[0].length === 0) continue;
  el.replaceChildren();
  window.cocaCharts[i] = new uPlot({
    width: 680, height: 280,
    scales: { x: { time: false }, y: c.fitY ? {} : { range: (u, lo, hi) => [Math.min(0, lo), hi] } },
    axes: [{ label: 'step' }, { label: c.yLabel, size: 60 }],
    series: [{ label: 'step' }, ...c.series.map((s) => ({ label: s.label, stroke: s.color, width: 1.5, spanGaps: true, value: (u, v) => v == null ? '–' : Number(v.toPrecision(4)) }))],
  }, c.data, el);
}`;

function interactive(charts: ReportChart[]): string {
  const lib = uplotSource();
  if (!lib) return '';
  const payload = charts.map((c) => ({ fitY: !!c.fitY, yLabel: c.yLabel ?? c.title, series: c.series.map((s) => ({ label: s.legend ?? s.name, color: s.color })), data: alignedData(c.series) }));
  // `</` inside inlined script or JSON would end the <script> element early.
  const safe = (t: string) => t.replace(/<\//g, '<\\/');
  return `<style>${lib.css}</style><script>${safe(lib.js)}</script><script>const CHARTS = ${safe(JSON.stringify(payload))};\n${DRAW}</script>`;
}

/**
 * One line chart as a standalone SVG element (null when there is nothing to draw). The y axis
 * starts at 0 unless `fitY`, which spans just the data (for telling close curves apart).
 */
export function svgChart(series: Series[], w = 640, h = 260, caption = '', fitY = false): string | null {
  const all = series.flatMap((s) => s.points).filter(([, y]) => Number.isFinite(y));
  if (all.length === 0) return null;
  const x0 = Math.min(...all.map((p) => p[0]));
  const x1 = Math.max(...all.map((p) => p[0]), x0 + 1);
  const y0 = fitY ? Math.min(...all.map((p) => p[1])) : Math.min(0, ...all.map((p) => p[1]));
  const y1 = Math.max(...all.map((p) => p[1]), y0 + 1e-9);
  const pad = 40;
  const X = (x: number) => pad + ((x - x0) / (x1 - x0)) * (w - 2 * pad);
  const Y = (y: number) => h - pad - ((y - y0) / (y1 - y0)) * (h - 2 * pad);
  const lines = series
    .filter((s) => s.points.length)
    .map((s) => `<polyline fill="none" stroke="${s.color}" stroke-width="1.5" points="${s.points.map(([x, y]) => `${X(x).toFixed(1)},${Y(y).toFixed(1)}`).join(' ')}"/>`)
    .join('');
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => {
    const y = y0 + f * (y1 - y0);
    return `<text x="4" y="${Y(y) + 4}" font-size="10">${y.toPrecision(3)}</text><line x1="${pad}" x2="${w - pad}" y1="${Y(y)}" y2="${Y(y)}" stroke="#eee"/>`;
  });
  const entries = [...new Map(series.map((s) => [`${s.legend ?? s.name}\u0000${s.color}`, s])).values()];
  const legend = entries.map((s, i) => `<text x="${pad + 150 * i}" y="14" font-size="11" fill="${s.color}">${escapeHtml(s.legend ?? s.name)}</text>`).join('');
  const cap = caption ? `<text x="${pad}" y="${h - 8}" font-size="10">${escapeHtml(caption)}</text>` : '';
  return `<svg width="${w}" height="${h}" xmlns="http://www.w3.org/2000/svg"><rect width="${w}" height="${h}" fill="#fff"/>${ticks.join('')}${lines}${legend}${cap}<text x="${w - pad}" y="${h - 8}" font-size="10" text-anchor="end">step ${x1}</text></svg>`;
}

export function writeReport(file: string, title: string, summary: Record<string, string | number>, charts: ReportChart[], extraHtml = ''): void {
  const rows = Object.entries(summary)
    .map(([k, v]) => `<tr><td>${k}</td><td>${typeof v === 'number' ? (Number.isInteger(v) ? v : v.toPrecision(4)) : v}</td></tr>`)
    .join('');
  const html = `<!doctype html><meta charset="utf-8"><title>${title}</title>
<style>body{font:14px system-ui,sans-serif;margin:2em;max-width:720px}td{padding:2px 12px 2px 0}.chart{min-height:280px}</style>
<h1>${title}</h1><table>${rows}</table>${extraHtml}${charts.map(chart).join('\n')}
<p style="color:#888">written by coca at ${new Date().toISOString()}</p>${interactive(charts)}`;
  writeFileAtomic(file, html);
}
