// Progress of a long loop on stderr: a redrawn bar on a terminal; in a log (CI, nohup, a pipe)
// one plain line each time another `everyPercent` of the work is done, so a log of a long run
// stays readable and a few hundred lines long whatever the step count.
import cliProgress from 'cli-progress';

export interface Progress {
  update(done: number, fields: Record<string, string>): void;
  stop(): void;
}

export interface ProgressOptions {
  label: string;
  total: number;
  start?: number;
  /** Fields after the count, in order, e.g. ['loss', 'ips'] → "loss 1.23 | ips 40.1". */
  fields: { name: string; unit?: string }[];
  stream?: NodeJS.WriteStream;
  /** Plain-line mode: a line per this many percent (default 5). */
  everyPercent?: number;
}

export function createProgress(o: ProgressOptions): Progress {
  const stream = o.stream ?? process.stderr;
  if (stream.isTTY) return barProgress(o, stream);
  return lineProgress(o, stream);
}

function describe(o: ProgressOptions, fields: Record<string, string>): string {
  return o.fields
    .filter((f) => fields[f.name] !== undefined)
    .map((f) => `${f.name} ${fields[f.name]}${f.unit ? ` ${f.unit}` : ''}`)
    .join(' | ');
}

function barProgress(o: ProgressOptions, stream: NodeJS.WriteStream): Progress {
  const fieldFormat = o.fields.map((f) => `${f.name} {${f.name}}${f.unit ? ` ${f.unit}` : ''}`).join(' | ');
  const bar = new cliProgress.SingleBar(
    { format: `${o.label} [{bar}] {value}/{total}${fieldFormat ? ` | ${fieldFormat}` : ''} | ETA {eta_formatted}`, stream, hideCursor: true, etaBuffer: 20 },
    cliProgress.Presets.shades_classic,
  );
  bar.start(o.total, o.start ?? 0, Object.fromEntries(o.fields.map((f) => [f.name, '–'])));
  return { update: (done, fields) => bar.update(done, fields), stop: () => bar.stop() };
}

/** The next count at or above which a line is due, after `done`. */
export function nextLineAt(done: number, total: number, everyPercent: number): number {
  const step = Math.max(1, (total * everyPercent) / 100);
  return Math.min(total, Math.floor(done / step + 1) * step);
}

function lineProgress(o: ProgressOptions, stream: NodeJS.WriteStream): Progress {
  const every = o.everyPercent ?? 5;
  const t0 = performance.now();
  const start = o.start ?? 0;
  let due = nextLineAt(start, o.total, every);
  const width = String(o.total).length;
  return {
    update(done, fields) {
      if (done < due) return;
      due = nextLineAt(done, o.total, every);
      const pct = o.total > 0 ? Math.floor((100 * done) / o.total) : 100;
      const secs = (performance.now() - t0) / 1000;
      const rate = (done - start) / Math.max(secs, 1e-9);
      const eta = done >= o.total || rate <= 0 ? '' : ` | ETA ${formatSeconds((o.total - done) / rate)}`;
      const extra = describe(o, fields);
      stream.write(`${o.label} ${String(done).padStart(width)}/${o.total} (${String(pct).padStart(3)} %)${extra ? ` | ${extra}` : ''}${eta}\n`);
    },
    stop() {},
  };
}

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const r = Math.round(s);
  if (r < 60) return `${r}s`;
  if (r < 3600) return `${Math.floor(r / 60)}m${String(r % 60).padStart(2, '0')}s`;
  return `${Math.floor(r / 3600)}h${String(Math.floor((r % 3600) / 60)).padStart(2, '0')}m`;
}
