// The retrieval index: image embeddings computed once, so `coca retrieve --text` is one text
// encode and one pass over an [n, E] matrix. A folder:
//   embeddings.safetensors  image_embeddings F32 [n, E], unit rows; metadata: format, checkpoint id
//   items.json              {format, checkpoint: {id, dir}, source, items: [{path} | {data, split, index}, id?, captions?]}
// An index is tied to the weights that made it (the id is a hash of model.safetensors): read with
// other weights its scores would be meaningless, so it is refused.
import fs from 'node:fs';
import path from 'node:path';
import { loadDataset, type Dataset } from '../data/index.ts';
import { readSource, toModelInput } from '../data/prep.ts';
import { readSafetensors, writeSafetensors } from '../model/safetensors.ts';
import { embedImages } from './embed.ts';
import { InferError, listImages, loadReadableImages, type OpenCheckpoint } from './load.ts';
import { checkOutputFolder, claimOutputFolder, heldFormat } from '../util/outdir.ts';
import { writeFileAtomic } from '../util/atomic.ts';

export const INDEX_FORMAT = 'coca-index-1';

export interface IndexItem {
  /** An image file. */
  path?: string;
  /** Or item `index` of a dataset's split. */
  data?: string;
  split?: string;
  index?: number;
  id?: string;
  captions?: string[];
}

export interface RetrievalIndex {
  dir: string;
  checkpoint: { id: string; dir: string };
  source: string;
  items: IndexItem[];
  /** [n, E], unit rows. */
  embeddings: Float32Array;
  E: number;
}

export interface BuildOptions {
  /** A folder of pictures, or with `data` a dataset (its split, or several splits one after the other). */
  folder?: string;
  data?: string;
  split?: string;
  splits?: readonly string[];
  batch?: number;
  log?: (line: string) => void;
  /** Pictures embedded so far, after each batch (a progress bar or, without a terminal, a line every few percent). */
  progress?: (done: number, total: number) => void;
  /** Where skipped pictures are reported (default console.warn). */
  warn?: (line: string) => void;
}

/** Dataset items as the model's input, `batch` at a time, prepared as the model's preprocessing says. */
async function datasetImages(ds: Dataset, from: number, to: number, ck: OpenCheckpoint): Promise<Float32Array> {
  const S = ck.pre.size;
  const out = new Float32Array((to - from) * 3 * S * S);
  for (let i = from; i < to; i++) {
    const img = ds.source ? await readSource(ds.source(i), false, ck.pre) : await ds.image(i, 'eval');
    toModelInput(img, ck.pre, out, (i - from) * 3 * S * S);
  }
  return out;
}

export async function buildIndex(ck: OpenCheckpoint, out: string, o: BuildOptions): Promise<RetrievalIndex> {
  const batch = o.batch ?? 32;
  const log = o.log ?? (() => {});
  const E = ck.model.config.embed_dim;
  let items: IndexItem[];
  let embeddings: Float32Array;
  let source: string;
  if (o.data) {
    const splits = o.splits ?? [o.split ?? 'test'];
    const sets: Dataset[] = [];
    try {
      for (const split of splits) sets.push(await loadDataset(o.data, { split, imageSize: ck.pre.size }));
      const total = sets.reduce((n, ds) => n + ds.length, 0);
      if (total === 0) throw new InferError(`${o.data} split${splits.length > 1 ? 's' : ''} '${splits.join("', '")}' ha${splits.length > 1 ? 've' : 's'} no items to index`);
      source = `${o.data}:${splits.join('+')}`;
      items = sets.flatMap((ds, k) => Array.from({ length: ds.length }, (_, i) => ({ data: o.data, split: splits[k], index: i, id: ds.meta(i).id, captions: [...ds.captions(i)] })));
      embeddings = new Float32Array(total * E);
      let done = 0;
      for (const ds of sets) {
        for (let i = 0; i < ds.length; i += batch) {
          const to = Math.min(ds.length, i + batch);
          embeddings.set(await embedImages(ck.model, await datasetImages(ds, i, to, ck), to - i, batch), (done + i) * E);
          log(`  ${done + to}/${total} images`);
          o.progress?.(done + to, total);
        }
        done += ds.length;
      }
    } finally {
      for (const ds of sets) ds.close();
    }
  } else {
    const folder = o.folder!;
    if (!fs.existsSync(folder) || !fs.statSync(folder).isDirectory()) throw new InferError(`${folder} is not a folder; give a folder of pictures or --data PATH`);
    const files = listImages(folder);
    if (files.length === 0) throw new InferError(`${folder} holds no pictures (jpg, png, webp, gif, avif, svg, tiff)`);
    source = folder;
    // One undecodable picture in a big folder costs a warning, not the whole build.
    const kept: string[] = [];
    const parts: Float32Array[] = [];
    for (let i = 0; i < files.length; i += batch) {
      const { images, kept: part, failed } = await loadReadableImages(files.slice(i, i + batch), ck.pre);
      for (const f of failed) (o.warn ?? console.warn)(`skipped ${f.file}: ${f.reason}`);
      if (part.length === 0) continue;
      parts.push(await embedImages(ck.model, images, part.length, batch));
      kept.push(...part);
      log(`  ${i + Math.min(batch, files.length - i)}/${files.length} images`);
      o.progress?.(i + Math.min(batch, files.length - i), files.length);
    }
    if (kept.length === 0) throw new InferError(`none of the ${files.length} pictures in ${folder} could be read`);
    items = kept.map((f) => ({ path: path.resolve(f) }));
    embeddings = new Float32Array(kept.length * E);
    parts.reduce((at, p) => (embeddings.set(p, at), at + p.length), 0);
  }
  const index: RetrievalIndex = { dir: out, checkpoint: { id: ck.id, dir: path.resolve(ck.dir) }, source, items, embeddings, E };
  saveIndex(index);
  return index;
}

const INDEX_COMMAND = 'coca index build';

/** An index folder is new, empty, or an earlier index (marked, or with the items.json of older ones), and none of the inputs. */
export function checkIndexFolder(dir: string, inputs: readonly (string | undefined)[]): void {
  checkOutputFolder(dir, INDEX_COMMAND, { inputs, isOwnLegacy: isIndex });
}

const isIndex = (dir: string) => heldFormat(dir, 'items.json', INDEX_FORMAT);

export function saveIndex(ix: RetrievalIndex): void {
  claimOutputFolder(ix.dir, INDEX_COMMAND, { isOwnLegacy: isIndex });
  const n = ix.embeddings.length / ix.E;
  writeSafetensors(path.join(ix.dir, 'embeddings.safetensors'), new Map([['image_embeddings', { shape: [n, ix.E], data: ix.embeddings }]]), { format: INDEX_FORMAT, checkpoint_id: ix.checkpoint.id });
  writeFileAtomic(path.join(ix.dir, 'items.json'), JSON.stringify({ format: INDEX_FORMAT, checkpoint: ix.checkpoint, source: ix.source, items: ix.items }) + '\n');
}

type IndexMeta = Omit<RetrievalIndex, 'dir' | 'embeddings' | 'E'> & { format: string };

/** items.json, refused in one line when it is not JSON or lacks what an index holds. */
function readItems(file: string): IndexMeta {
  let meta: Partial<IndexMeta> | null;
  try {
    meta = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<IndexMeta> | null;
  } catch (e) {
    throw new InferError(`${file} is not valid JSON (${(e as Error).message.split('\n')[0]}); rebuild the index with 'coca index build'`);
  }
  if (!meta || typeof meta !== 'object') throw new InferError(`${file} is not a coca index; rebuild it with 'coca index build'`);
  // Another format version is named by loadIndex; this one must hold its items and checkpoint.
  const whole = Array.isArray(meta.items) && meta.items.every((it) => it && typeof it === 'object') && typeof meta.checkpoint?.id === 'string' && typeof meta.checkpoint.dir === 'string';
  if (meta.format === INDEX_FORMAT && !whole) throw new InferError(`${file} lacks the items or checkpoint of an index; rebuild it with 'coca index build'`);
  return meta as IndexMeta;
}

/** Reads an index and checks it belongs to `checkpointId` (when given). */
export function loadIndex(dir: string, checkpointId?: string): RetrievalIndex {
  const itemsFile = path.join(dir, 'items.json');
  const embFile = path.join(dir, 'embeddings.safetensors');
  if (!fs.existsSync(itemsFile) || !fs.existsSync(embFile)) throw new InferError(`${dir} is not a coca index (no items.json + embeddings.safetensors); make one with 'coca index build'`);
  const meta = readItems(itemsFile);
  if (meta.format !== INDEX_FORMAT) throw new InferError(`${dir}: index format ${meta.format}, this coca reads ${INDEX_FORMAT}; rebuild it with 'coca index build'`);
  if (checkpointId && meta.checkpoint.id !== checkpointId) {
    throw new InferError(`${dir} was built with another checkpoint (${meta.checkpoint.dir}, id ${meta.checkpoint.id}); rebuild it with 'coca index build --checkpoint ...' or pass --checkpoint ${meta.checkpoint.dir}`);
  }
  const t = readSafetensors(embFile).tensors.get('image_embeddings');
  if (!t || !(t.data instanceof Float32Array) || t.shape.length !== 2 || t.shape[0] !== meta.items.length) {
    throw new InferError(`${embFile} does not hold one F32 embedding per item of items.json; rebuild the index`);
  }
  return { ...meta, dir, embeddings: t.data, E: t.shape[1]! };
}
