// Thumbnails of indexed pictures. A request names a picture by its path relative to the indexed
// folder; the path is resolved, symlinks included, and must land inside that folder and be one of
// the indexed files, so `../`, absolute paths, encoded dots and links pointing out all end in a
// refusal, never in a read. Dataset items are named by their number instead.
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { loadDataset, type Dataset } from '../data/index.ts';
import type { RetrievalIndex } from '../infer/retrieval.ts';
import { UploadError } from './image.ts';

const SIDE = 160;

export class Thumbs {
  /** Real path of the indexed folder, or null for a dataset index. */
  readonly root: string | null;
  private files = new Set<string>();
  private cache = new Map<string, Buffer>();
  private sets = new Map<string, Promise<Dataset>>();

  constructor(readonly index: RetrievalIndex) {
    const folder = index.items.some((it) => it.path) && fs.existsSync(index.source) ? index.source : null;
    this.root = folder ? fs.realpathSync(folder) : null;
    for (const it of index.items) if (it.path) this.files.add(path.resolve(it.path));
  }

  /** The thumbnail URL of item i, or null when it has none. */
  url(i: number): string | null {
    const it = this.index.items[i]!;
    if (it.path) {
      if (!this.root) return null;
      const rel = path.relative(this.root, safeReal(it.path) ?? it.path);
      return rel.startsWith('..') || path.isAbsolute(rel) ? null : `/api/thumb?path=${encodeURIComponent(rel.split(path.sep).join('/'))}`;
    }
    return `/api/thumb?item=${i}`;
  }

  /** A PNG for `?path=` (relative to the indexed folder) or `?item=` (a dataset item). */
  async get(q: { path?: string; item?: string }): Promise<Buffer> {
    const key = q.path !== undefined ? `p:${q.path}` : `i:${q.item}`;
    const hit = this.cache.get(key);
    if (hit) return hit;
    const png = q.path !== undefined ? await this.fromFile(q.path) : await this.fromItem(q.item);
    if (this.cache.size >= 512) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(key, png);
    return png;
  }

  private async fromFile(rel: string): Promise<Buffer> {
    if (!this.root) throw new UploadError('this index holds dataset items, not files; ask for ?item=N', 404);
    if (rel === '' || rel.includes('\0') || path.isAbsolute(rel) || /^[a-zA-Z]:/.test(rel)) throw new UploadError(`thumbnail path "${rel}" must be relative to the indexed folder`, 403);
    const real = safeReal(path.resolve(this.root, rel));
    const inside = real !== null && real.startsWith(this.root + path.sep);
    if (!inside) throw new UploadError(`thumbnail path "${rel}" is outside the indexed folder`, 403);
    if (!this.files.has(real) && !this.files.has(path.resolve(this.root, rel))) throw new UploadError(`"${rel}" is not a picture of the index`, 404);
    try {
      return await sharp(real, { pages: 1, limitInputPixels: 1e8 }).flatten({ background: '#ffffff' }).resize(SIDE, SIDE, { fit: 'contain', background: '#ffffff' }).png().toBuffer();
    } catch (e) {
      throw new UploadError(`"${rel}" can no longer be read (${(e as Error).message.split('\n')[0]})`, 404);
    }
  }

  private async fromItem(arg: string | undefined): Promise<Buffer> {
    const i = Number(arg);
    const it = Number.isInteger(i) && i >= 0 ? this.index.items[i] : undefined;
    if (!it) throw new UploadError(`no item ${arg} in the index (it has ${this.index.items.length})`, 404);
    if (it.path) throw new UploadError(`item ${i} is a file; ask for ?path=`, 404);
    const key = `${it.data}:${it.split}`;
    if (!this.sets.has(key)) this.sets.set(key, loadDataset(it.data!, { split: it.split! }));
    const img = await (await this.sets.get(key)!).image(it.index!, 'eval');
    return sharp(Buffer.from(img.data), { raw: { width: img.width, height: img.height, channels: 3 } })
      .resize(SIDE, SIDE, { fit: 'contain', kernel: 'nearest', background: '#ffffff' })
      .png()
      .toBuffer();
  }

  async close(): Promise<void> {
    for (const d of this.sets.values()) (await d.catch(() => null))?.close();
  }
}

function safeReal(p: string): string | null {
  try {
    return fs.realpathSync(p);
  } catch {
    return null;
  }
}
