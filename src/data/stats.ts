// `coca data stats`: counts, caption lengths, vocabulary coverage and a contact sheet of samples.
import sharp from 'sharp';
import type { Dataset } from './dataset.ts';
import { Rng } from './rng.ts';
import type { Tokenizer } from './tokenizer.ts';

export interface SplitStats {
  split: string;
  images: number;
  pairs: number;
  distinctCaptions: number;
  /** Caption length in words → number of captions. */
  wordHistogram: Map<number, number>;
  /** Caption length in tokens, [SOT]/[EOT] included: mean and max. */
  tokens?: { mean: number; max: number; overContext: number };
  /** Share of this split's words that also occur in the reference (train) captions. */
  wordCoverage?: number;
}

export function splitStats(ds: Dataset, opts: { tokenizer?: Tokenizer; contextLength?: number; trainWords?: Set<string> } = {}): SplitStats {
  const distinct = new Set<string>();
  const hist = new Map<number, number>();
  let pairs = 0;
  let tokSum = 0;
  let tokMax = 0;
  let over = 0;
  let words = 0;
  let known = 0;
  for (let i = 0; i < ds.length; i++) {
    for (const c of ds.captions(i)) {
      pairs++;
      distinct.add(c);
      const ws = c.split(' ').filter((w) => w.length > 0);
      hist.set(ws.length, (hist.get(ws.length) ?? 0) + 1);
      if (opts.trainWords) {
        words += ws.length;
        known += ws.filter((w) => opts.trainWords!.has(w)).length;
      }
      if (opts.tokenizer) {
        const n = opts.tokenizer.encode(c).length;
        tokSum += n;
        tokMax = Math.max(tokMax, n);
        if (opts.contextLength !== undefined && n > opts.contextLength) over++;
      }
    }
  }
  return {
    split: ds.split,
    images: ds.length,
    pairs,
    distinctCaptions: distinct.size,
    wordHistogram: hist,
    ...(opts.tokenizer ? { tokens: { mean: tokSum / Math.max(pairs, 1), max: tokMax, overContext: over } } : {}),
    ...(opts.trainWords ? { wordCoverage: words > 0 ? known / words : 1 } : {}),
  };
}

export function wordsOf(ds: Dataset): Set<string> {
  const out = new Set<string>();
  for (let i = 0; i < ds.length; i++) for (const c of ds.captions(i)) for (const w of c.split(' ')) if (w) out.add(w);
  return out;
}

/** A text bar chart of a histogram, one line per length. */
export function histogramLines(hist: Map<number, number>, width = 40): string[] {
  const max = Math.max(...hist.values());
  return [...hist.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([len, n]) => `${String(len).padStart(3)} ${'#'.repeat(Math.max(1, Math.round((n / max) * width)))} ${n}`);
}

function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/**
 * A PNG grid of `count` random samples (seeded), each picture above its first caption.
 * Pictures are shown at `cell` px whatever their stored size.
 */
export async function contactSheet(ds: Dataset, file: string, opts: { count?: number; seed?: number; cols?: number; cell?: number } = {}): Promise<void> {
  const count = Math.min(opts.count ?? 48, ds.length);
  const cols = opts.cols ?? 8;
  const cell = opts.cell ?? 128;
  const label = 34;
  const rows = Math.ceil(count / cols);
  const rng = new Rng(opts.seed ?? 0);
  const picked = new Set<number>();
  while (picked.size < count) picked.add(rng.int(ds.length));
  const tiles = await Promise.all(
    [...picked].map(async (idx, k) => {
      const img = await ds.image(idx, 'eval');
      const png = await sharp(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength), { raw: { width: img.width, height: img.height, channels: 3 } })
        .resize(cell, cell, { fit: 'contain', kernel: 'nearest', background: '#ffffff' })
        .png()
        .toBuffer();
      const svg = captionLabelSvg(ds.captions(idx), cell, label);
      const x = (k % cols) * (cell + 4);
      const y = Math.floor(k / cols) * (cell + label + 4);
      return [
        { input: png, left: x, top: y },
        { input: Buffer.from(svg), left: x, top: y + cell },
      ];
    }),
  );
  await sharp({ create: { width: cols * (cell + 4), height: rows * (cell + label + 4), channels: 3, background: '#ffffff' } })
    .composite(tiles.flat())
    .png()
    .toFile(file);
}

/** The strip under a tile: the item's first caption, wrapped to two centred lines, as SVG markup. */
export function captionLabelSvg(captions: readonly string[], cell: number, height: number): string {
  const caption = captions[0] ?? '';
  const lines = wrap(caption, Math.floor(cell / 7), 2);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${cell}" height="${height}"><rect width="100%" height="100%" fill="#f4f4f4"/>${lines
    .map((l, j) => `<text x="${cell / 2}" y="${13 + j * 14}" font-family="DejaVu Sans, sans-serif" font-size="11" text-anchor="middle" fill="#111">${escapeXml(l)}</text>`)
    .join('')}</svg>`;
}

/** Words joined into lines of at most `width` characters; past `maxLines`, the last is cut and ends in '…'. */
export function wrap(text: string, width: number, maxLines: number): string[] {
  const lines: string[] = [];
  let cur = '';
  for (const w of text.split(' ')) {
    if (cur && (cur + ' ' + w).length > width) {
      lines.push(cur);
      cur = w;
    } else cur = cur ? `${cur} ${w}` : w;
  }
  if (cur) lines.push(cur);
  if (lines.length > maxLines) {
    lines.length = maxLines;
    lines[maxLines - 1] = lines[maxLines - 1]!.slice(0, width - 1) + '…';
  }
  return lines;
}
