// The HTML view of a retrieval: one self-contained file (thumbnails inlined as PNG data URIs),
// so it can be mailed or opened anywhere.
import fs from 'node:fs';
import sharp from 'sharp';
import { loadDataset, type Dataset } from '../data/index.ts';
import type { Hit } from './embed.ts';
import type { IndexItem } from './retrieval.ts';
import { escapeHtml } from '../util/escape.ts';


async function thumbFromFile(file: string, side: number): Promise<string> {
  const png = await sharp(file, { pages: 1 }).flatten({ background: '#ffffff' }).resize(side, side, { fit: 'contain', background: '#ffffff' }).png().toBuffer();
  return `data:image/png;base64,${png.toString('base64')}`;
}

async function thumbFromDataset(ds: Dataset, i: number, side: number): Promise<string> {
  const img = await ds.image(i, 'eval');
  const png = await sharp(Buffer.from(img.data), { raw: { width: img.width, height: img.height, channels: 3 } }).resize(side, side, { fit: 'contain', kernel: 'nearest', background: '#ffffff' }).png().toBuffer();
  return `data:image/png;base64,${png.toString('base64')}`;
}

/** A thumbnail of each item (files read directly; dataset items through their dataset). */
export async function thumbnails(items: IndexItem[], side = 160): Promise<string[]> {
  const sets = new Map<string, Dataset>();
  const out: string[] = [];
  for (const it of items) {
    try {
      if (it.path) out.push(await thumbFromFile(it.path, side));
      else {
        const key = `${it.data}:${it.split}`;
        if (!sets.has(key)) sets.set(key, await loadDataset(it.data!, { split: it.split! }));
        out.push(await thumbFromDataset(sets.get(key)!, it.index!, side));
      }
    } catch {
      out.push(''); // the picture moved since the index was built: show the row without it
    }
  }
  for (const d of sets.values()) d.close();
  return out;
}

const PAGE = (title: string, body: string) => `<!doctype html>
<html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>body{font:14px system-ui,sans-serif;margin:24px;color:#222}h1{font-size:18px}
.grid{display:flex;flex-wrap:wrap;gap:14px}.cell{width:170px}.cell img{width:160px;height:160px;border:1px solid #ddd;background:#fff;image-rendering:pixelated}
.s{color:#666;font-size:12px}table{border-collapse:collapse}td{padding:4px 10px;border-bottom:1px solid #eee}</style></head>
<body>${body}</body></html>
`;

export async function textQueryPage(file: string, query: string, items: IndexItem[], hits: Hit[]): Promise<void> {
  const shown = hits.map((h) => items[h.index]!);
  const thumbs = await thumbnails(shown);
  const cells = hits
    .map((h, r) => {
      const it = shown[r]!;
      const name = it.path ?? `${it.data} ${it.split} #${it.index}`;
      const cap = it.captions?.[0] ? `<div>${escapeHtml(it.captions[0])}</div>` : '';
      return `<div class="cell">${thumbs[r] ? `<img src="${thumbs[r]}" alt="">` : '<div>(missing)</div>'}<div class="s">${r + 1}. ${h.score.toFixed(4)} · ${escapeHtml(name.split('/').pop()!)}</div>${cap}</div>`;
    })
    .join('\n');
  fs.writeFileSync(file, PAGE(`coca retrieve: ${query}`, `<h1>“${escapeHtml(query)}”: top ${hits.length} by cosine similarity</h1><div class="grid">${cells}</div>`));
}

export async function imageQueryPage(file: string, image: string, texts: readonly string[], hits: Hit[]): Promise<void> {
  const [thumb] = await thumbnails([{ path: image }]);
  const rows = hits.map((h, r) => `<tr><td>${r + 1}</td><td>${h.score.toFixed(4)}</td><td>${escapeHtml(texts[h.index]!)}</td></tr>`).join('\n');
  fs.writeFileSync(file, PAGE(`coca retrieve: ${image}`, `<h1>${escapeHtml(image)}: top ${hits.length} captions</h1><img src="${thumb}" alt="" style="width:200px;border:1px solid #ddd"><table>${rows}</table>`));
}
