// `coca data shards`: any dataset coca reads, written as WebDataset shards (one folder per split,
// in a seeded random order, `00000.tar` … holding `<key>.<png|jpg|webp>`, `<key>.txt` with the captions one a line and
// `<key>.json` with them and the item's metadata), plus the dataset's tokenizer.json and a
// shards.json (counts, classes, the built set's measured statistics) that coca reads back.
// Pictures that are files in an open format are copied byte for byte, so the shards decode to
// exactly the pixels of the files; a built set's stored rasters are written as PNG (lossless).
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import tar from 'tar-stream';
import type { Dataset } from './dataset.ts';
import { DataError } from './errors.ts';
import { DEFAULT_LANGUAGE } from './lang.ts';
import { isBuiltDataset, isShardData, listSplits, loadDataset, measuredStats, resolveDataPath } from './load.ts';
import { mapLimit } from './pool.ts';
import { readSource } from './prep.ts';
import { defaultPreprocess } from './preprocess.ts';
import { SHARDS_INFO, type ShardsInfo } from './readers/shard-dataset.ts';
import { besideShards, IMAGE_EXTS } from './readers/webdataset.ts';
import { hashString, mixSeed, permutation, Rng } from './rng.ts';
import { readManifest } from './store.ts';

export interface WriteShardsOptions {
  /** Samples per shard. */
  perShard: number;
  /**
   * Write each split in a seeded random order (default): a stream reads shards whole, so a set
   * stored grouped (the built-in set by art style) would otherwise fill each shuffle buffer, and
   * each batch, from one group. False keeps the dataset's order.
   */
  shuffle?: boolean;
  /** Splits to write (default: every split the dataset has). */
  splits?: string[];
  seed?: number;
  strict?: boolean;
  captionField?: string;
  log?: (line: string) => void;
  warn?: (line: string) => void;
}

interface Encoded {
  ext: string;
  bytes: Buffer;
}

const OPEN_FORMATS = new Set<string>(IMAGE_EXTS);

/** Item i's picture as bytes of an open format: the file itself where it is one, else PNG. */
async function encodedPicture(ds: Dataset, i: number): Promise<Encoded> {
  const src = ds.source?.(i);
  if (src?.kind === 'file') {
    const ext = path.extname(src.path).slice(1).toLowerCase();
    if (OPEN_FORMATS.has(ext)) return { ext, bytes: fs.readFileSync(src.path) };
  }
  if (src?.kind === 'bytes') {
    const ext = src.name.slice(src.name.lastIndexOf('.') + 1).toLowerCase();
    if (OPEN_FORMATS.has(ext)) return { ext, bytes: Buffer.from(src.bytes) };
  }
  if (src?.kind === 'stored') {
    const img = await readSource(src, false, defaultPreprocess(src.side));
    return { ext: 'png', bytes: await sharp(Buffer.from(img.data), { raw: { width: img.width, height: img.height, channels: 3 } }).png().toBuffer() };
  }
  if (src?.kind === 'file') return { ext: 'png', bytes: await sharp(src.path).png().toBuffer() };
  const img = await ds.image(i, 'eval');
  return { ext: 'png', bytes: await sharp(Buffer.from(img.data), { raw: { width: img.width, height: img.height, channels: 3 } }).png().toBuffer() };
}

/** Writes one tar to a temporary name, then renames it, so a shard that exists is whole. */
async function writeTar(file: string, members: { name: string; data: Buffer }[]): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  const pack = tar.pack();
  const sink = fs.createWriteStream(tmp);
  const done = new Promise<void>((resolve, reject) => {
    sink.on('finish', resolve);
    sink.on('error', reject);
    pack.on('error', reject);
  });
  pack.pipe(sink);
  const mtime = new Date(0);
  for (const m of members) pack.entry({ name: m.name, size: m.data.length, mtime, mode: 0o644 }, m.data);
  pack.finalize();
  try {
    await done;
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw new DataError(`${file}: cannot write (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); the shards written before it are whole`);
  }
}

/** The side the pictures of a built set are read at: its largest raster (others: as the files are). */
function sourceSide(where: string): number {
  if (isShardData(where)) return 64;
  const p = resolveDataPath(where);
  return isBuiltDataset(p) ? Math.max(...readManifest(p).imageSizes) : 64;
}

function tokenizerFileOf(where: string): string | undefined {
  if (isShardData(where)) return besideShards(where, 'tokenizer.json');
  const p = resolveDataPath(where);
  const f = path.join(fs.statSync(p).isDirectory() ? p : path.dirname(p), 'tokenizer.json');
  return fs.existsSync(f) ? f : undefined;
}

/**
 * Removes the shards an earlier `coca data shards` left in `out` (the caller has checked that
 * `out` is new, empty or that command's own output): a folder of split folders is one set, and
 * a stale `00007.tar` or split would be read as part of the new one.
 */
function removeOldShards(out: string): void {
  if (!fs.existsSync(out)) return;
  for (const name of fs.readdirSync(out)) {
    const dir = path.join(out, name);
    if (!fs.statSync(dir).isDirectory()) continue;
    const shards = fs.readdirSync(dir).filter((f) => /\.tar(\.tmp-\d+)?$/.test(f));
    // Checked before anything goes: a folder named like a shard is not one coca wrote.
    for (const f of shards) {
      if (!fs.lstatSync(path.join(dir, f)).isFile()) throw new DataError(`${path.join(dir, f)} is not a shard file coca wrote (a folder or link); move it out of ${out} and run again`);
    }
    for (const f of shards) fs.rmSync(path.join(dir, f));
    if (fs.readdirSync(dir).length === 0) fs.rmdirSync(dir);
  }
}

/**
 * Digits in the shards' names (`00000.tar`) and the samples' keys (`000000.png`): those of the
 * last number, at least 5 and 6, so that names sort in number order within a split.
 */
export function nameWidths(shards: number, samples: number): { width: number; keyWidth: number } {
  return { width: Math.max(5, String(shards - 1).length), keyWidth: Math.max(6, String(samples - 1).length) };
}

/**
 * A sample's json member: its id, captions and metadata, and its captions in other languages
 * (`i18n`, as the built set stores them) where the dataset has any: a multilingual set packed
 * into shards trains and evaluates in all its languages, as it does from the folder.
 */
export function sampleJson(ds: Dataset, i: number): Record<string, unknown> {
  const caps = ds.captions(i);
  const meta = ds.meta(i);
  const i18n: Record<string, string[]> = {};
  if (ds.captionsIn) {
    for (const lang of ds.languages ?? []) {
      if (lang === DEFAULT_LANGUAGE) continue;
      const t = ds.captionsIn(i, lang);
      if (t.length > 0) i18n[lang] = [...t];
    }
  }
  return {
    id: meta.id,
    caption: caps[0],
    captions: caps,
    ...(meta.style ? { style: meta.style } : {}),
    ...(meta.group ? { group: meta.group } : {}),
    ...(meta.label !== undefined ? { label: meta.label } : {}),
    ...(Object.keys(i18n).length > 0 ? { i18n } : {}),
  };
}

export async function writeShards(where: string, out: string, o: WriteShardsOptions): Promise<ShardsInfo> {
  const log = o.log ?? (() => {});
  const side = sourceSide(where);
  const splits = o.splits ?? listSplits(where).filter((s) => s !== 'all');
  const info: ShardsInfo = { format: 'coca-shards', source: where, splits: {} };
  // Only once the first split has been read: a run refused for its data leaves the old set whole.
  let cleared = false;
  const stats = measuredStats(where);
  if (stats) Object.assign(info, stats);
  for (const split of splits) {
    let ds: Dataset;
    try {
      ds = await loadDataset(where, { split, imageSize: side, seed: o.seed, strict: o.strict, captionField: o.captionField, ...(o.warn ? { warn: o.warn } : {}) });
    } catch (e) {
      // A user dataset split by hash may have nothing in a small split: not worth stopping for, unless asked for.
      if (e instanceof DataError && !o.splits && / has no items in split /.test(e.message)) continue;
      throw e;
    }
    if (!cleared) removeOldShards(out);
    cleared = true;
    const dir = path.join(out, split);
    fs.mkdirSync(dir, { recursive: true });
    const count = Math.ceil(ds.length / o.perShard);
    const { width, keyWidth } = nameWidths(count, ds.length);
    const order = o.shuffle === false ? Uint32Array.from({ length: ds.length }, (_, i) => i) : permutation(ds.length, new Rng(mixSeed(o.seed ?? 0, hashString(split), 0x5a4d)));
    for (let s = 0; s < count; s++) {
      const from = s * o.perShard;
      const n = Math.min(o.perShard, ds.length - from);
      const pictures = await mapLimit(n, 8, (k) => encodedPicture(ds, order[from + k]!));
      const members: { name: string; data: Buffer }[] = [];
      for (let k = 0; k < n; k++) {
        const i = order[from + k]!;
        const key = String(i).padStart(keyWidth, '0');
        const caps = ds.captions(i);
        const json = sampleJson(ds, i);
        members.push({ name: `${key}.${pictures[k]!.ext}`, data: pictures[k]!.bytes });
        members.push({ name: `${key}.txt`, data: Buffer.from(caps.join('\n')) });
        members.push({ name: `${key}.json`, data: Buffer.from(JSON.stringify(json)) });
      }
      await writeTar(path.join(dir, `${String(s).padStart(width, '0')}.tar`), members);
    }
    info.splits[split] = { samples: ds.length, shards: count, ...(ds.classes ? { classes: [...ds.classes] } : {}) };
    log(`${split}: ${ds.length} samples in ${count} shard${count > 1 ? 's' : ''} → ${dir}`);
    ds.close();
  }
  if (Object.keys(info.splits).length === 0) throw new DataError(`${where} has none of the splits ${splits.join(', ')}; nothing was written`);
  const tok = tokenizerFileOf(where);
  if (tok) fs.copyFileSync(tok, path.join(out, 'tokenizer.json'));
  fs.writeFileSync(path.join(out, SHARDS_INFO), JSON.stringify(info, null, 2) + '\n');
  return info;
}
