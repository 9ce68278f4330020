// What every reader of users' datasets shares: tolerant line reading, the tally of skipped
// entries (reported as one warning, or fatal with --strict), and merging captions per image.
import fs from 'node:fs';
import { DataError } from '../errors.ts';
import { normaliseCaption } from '../text.ts';

export interface ReadOptions {
  /** Stop at the first bad entry (missing or corrupt image, empty caption, bad line). */
  strict?: boolean;
  /** Receives the one-line summary of skipped entries (default: console.warn). */
  warn?: (line: string) => void;
  /** How images are checked when the dataset is opened: by header (default), fully decoded, or not at all. */
  verify?: 'none' | 'header' | 'full';
  /** Seed of the train/val/test assignment for formats that carry no split. */
  seed?: number;
  /** WebDataset shards: the json field a caption is read from when a sample has no txt (default caption). */
  captionField?: string;
}

/** One image and its captions as a reader found them. */
export interface RawRecord {
  image: string;
  captions: string[];
  /** train | val | test when the format says; readers map 'restval' to train. */
  split?: string;
}

/** Entries skipped for a reason, with the first few places, reported once. */
export class Problems {
  private counts = new Map<string, { n: number; first: string[] }>();
  constructor(
    readonly source: string,
    readonly strict: boolean,
  ) {}

  add(kind: string, where: string): void {
    if (this.strict) throw new DataError(`${kind}: ${where} (in ${this.source}); fix or remove it, or run without --strict to skip such entries`);
    const c = this.counts.get(kind) ?? { n: 0, first: [] };
    c.n++;
    if (c.first.length < 3) c.first.push(where);
    this.counts.set(kind, c);
  }

  get total(): number {
    let n = 0;
    for (const c of this.counts.values()) n += c.n;
    return n;
  }

  count(kind: string): number {
    return this.counts.get(kind)?.n ?? 0;
  }

  /** One line: what was skipped, how many of each, and the first places. */
  summary(): string | undefined {
    if (this.total === 0) return undefined;
    const parts = [...this.counts].map(([kind, c]) => `${c.n} ${kind} (${c.first.join(', ')}${c.n > c.first.length ? ', …' : ''})`);
    return `warning: skipped ${parts.join('; ')} in ${this.source}; pass --strict to stop at the first instead`;
  }
}

/** Lines of a text file; lines that are not valid UTF-8 are skipped and counted. */
export function readLines(file: string, problems: Problems): { line: string; no: number }[] {
  const buf = fs.readFileSync(file);
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const out: { line: string; no: number }[] = [];
  let start = 0;
  let no = 0;
  while (start <= buf.length) {
    let end = buf.indexOf(0x0a, start);
    if (end < 0) end = buf.length;
    no++;
    const bytes = buf.subarray(start, end);
    start = end + 1;
    let line: string;
    try {
      line = decoder.decode(bytes);
    } catch {
      problems.add('lines not in UTF-8', `${file}:${no}`);
      continue;
    }
    line = line.replace(/^\uFEFF/, '').replace(/\r$/, '');
    if (line.trim().length > 0) out.push({ line, no });
  }
  return out;
}

/** Parses JSON, turning a syntax error into one line naming the file. */
export function readJson<T>(file: string): T {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch (e) {
    throw new DataError(`${file} is not valid JSON (${(e as Error).message.split('\n')[0]}); check the file`);
  }
}

/** Joins records naming the same image, drops empty captions (counted), keeps first-seen order. */
export function mergeRecords(records: readonly RawRecord[], problems: Problems): RawRecord[] {
  const byImage = new Map<string, RawRecord>();
  for (const r of records) {
    let m = byImage.get(r.image);
    if (!m) {
      m = { image: r.image, captions: [], ...(r.split ? { split: r.split } : {}) };
      byImage.set(r.image, m);
    }
    for (const c of r.captions) {
      const n = normaliseCaption(c);
      if (n.length === 0) problems.add('empty captions', r.image);
      else if (!m.captions.includes(n)) m.captions.push(n);
    }
  }
  return [...byImage.values()].filter((r) => r.captions.length > 0);
}
