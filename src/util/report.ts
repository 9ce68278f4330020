// report.html: the loss curves and validation metrics of a run as inline SVG, rewritten as
// training goes, so a person can open it at any time with no server and no internet.
import { writeFileAtomic } from './atomic.ts';

export interface Series {
  name: string;
  color: string;
  points: [number, number][];
  /** Legend entry (default: name); series sharing one are listed once, e.g. the seeds of one arm. */
  legend?: string;
}

function chart(title: string, series: Series[], fitY = false): string {
  const svg = svgChart(series, 640, 260, '', fitY);
  return `<h3>${title}</h3>${svg ?? '<p>no data yet</p>'}`;
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
  const legend = entries.map((s, i) => `<text x="${pad + 150 * i}" y="14" font-size="11" fill="${s.color}">${s.legend ?? s.name}</text>`).join('');
  const cap = caption ? `<text x="${pad}" y="${h - 8}" font-size="10">${caption}</text>` : '';
  return `<svg width="${w}" height="${h}" xmlns="http://www.w3.org/2000/svg"><rect width="${w}" height="${h}" fill="#fff"/>${ticks.join('')}${lines}${legend}${cap}<text x="${w - pad}" y="${h - 8}" font-size="10" text-anchor="end">step ${x1}</text></svg>`;
}

export function writeReport(file: string, title: string, summary: Record<string, string | number>, charts: { title: string; series: Series[]; fitY?: boolean }[], extraHtml = ''): void {
  const rows = Object.entries(summary)
    .map(([k, v]) => `<tr><td>${k}</td><td>${typeof v === 'number' ? (Number.isInteger(v) ? v : v.toPrecision(4)) : v}</td></tr>`)
    .join('');
  const html = `<!doctype html><meta charset="utf-8"><title>${title}</title>
<style>body{font:14px system-ui,sans-serif;margin:2em;max-width:720px}td{padding:2px 12px 2px 0}</style>
<h1>${title}</h1><table>${rows}</table>${extraHtml}${charts.map((c) => chart(c.title, c.series, c.fitY)).join('\n')}
<p style="color:#888">written by coca at ${new Date().toISOString()}</p>`;
  writeFileAtomic(file, html);
}
