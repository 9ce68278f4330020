// What a model says about each evaluated picture, beside what people said: captions.json for
// programs and captions.html (a thumbnail, the generated caption, the references) for people.
// The HTML is one self-contained file (thumbnails inlined) so it can be mailed or opened offline.
import fs from 'node:fs';
import path from 'node:path';
import { thumbnails } from '../infer/html.ts';
import { writeFileAtomic } from '../util/atomic.ts';
import { escapeHtml } from '../util/escape.ts';

export interface CaptionRecord {
  split: string;
  /** The item's index in its split. */
  item: number;
  /** The item's id in its dataset (file name or built-in id). */
  id: string;
  caption: string;
  references: string[];
  /** The caption language, for a multilingual model's other languages (the caption decoded after its token, references in it). */
  lang?: string;
}

const THUMB = 96;


export function captionSheetHtml(title: string, records: readonly CaptionRecord[], thumbs: readonly (string | null)[]): string {
  const rows = records.map((r, i) => {
    const img = thumbs[i] ? `<img src="${thumbs[i]}" width="${THUMB}" height="${THUMB}" alt="">` : '';
    const refs = r.references.map((t) => `<li>${escapeHtml(t)}</li>`).join('');
    return `<tr><td>${img}</td><td class="id">${escapeHtml(r.split)}${r.lang ? ` · ${escapeHtml(r.lang)}` : ''}<br>${escapeHtml(r.id)}</td><td class="cap">${r.caption ? escapeHtml(r.caption) : '<i class="none">(no words)</i>'}</td><td><ul>${refs}</ul></td></tr>`;
  });
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>
body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse}td,th{border-bottom:1px solid #ddd;padding:.4em .7em;vertical-align:top;text-align:left}
td.id{color:#777;font-size:12px}td.cap{font-weight:600;max-width:22em}ul{margin:0;padding-left:1.1em}img{image-rendering:pixelated;background:#fff;display:block}i.none{color:#999;font-weight:400}
</style></head><body>
<h1>${escapeHtml(title)}</h1>
<p>${records.length} pictures: the model's caption (greedy) in bold, the dataset's references beside it.</p>
<table><thead><tr><th></th><th>split / item</th><th>generated</th><th>references</th></tr></thead><tbody>
${rows.join('\n')}
</tbody></table></body></html>
`;
}

/**
 * Writes captions.json and captions.html into `dir` (already claimed for writing); the thumbnails
 * are the retrieval page's, read from `data`, the dataset the records came from.
 */
export async function writeCaptionSheet(dir: string, title: string, records: readonly CaptionRecord[], data: string): Promise<void> {
  const thumbs = await thumbnails(records.map((r) => ({ data, split: r.split, index: r.item })), THUMB);
  fs.mkdirSync(dir, { recursive: true });
  writeFileAtomic(path.join(dir, 'captions.json'), JSON.stringify(records, null, 1) + '\n');
  writeFileAtomic(path.join(dir, 'captions.html'), captionSheetHtml(title, records, thumbs));
}
