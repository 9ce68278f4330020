// WebDataset shards (what img2dataset writes and open_clip reads): tar files whose members are
// grouped into samples by key (the path up to the first dot of the basename: `0001.jpg` and
// `0001.txt` are one sample). Shards are streamed from disk or http(s) with tar-stream, never
// unpacked. A shard that fails (a truncated file, an HTTP error, a dropped connection) is read
// again a bounded number of times, continuing after the samples already handed out; if it
// still fails, one line names it and the reader moves on (or, with --strict, stops).
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import tar from 'tar-stream';
import { DataError } from '../errors.ts';
import { normaliseCaption } from '../text.ts';
import type { Problems } from './common.ts';

/** Image members a sample's picture is taken from, in order of preference. */
export const IMAGE_EXTS = ['jpg', 'jpeg', 'png', 'webp'] as const;
/** The json field captions are read from when a sample has no `txt` member. */
export const DEFAULT_CAPTION_FIELD = 'caption';
/** Tries per shard (the first read and the retries) before it is reported and skipped. */
export const SHARD_TRIES = 3;
/** How long a shard server may take to answer a request (its headers), per try. */
export const HEADERS_TIMEOUT_MS = 60_000;

const URL_RE = /^https?:\/\//i;
const BRACE_RE = /\{(\d+)\.\.(\d+)\}|\{([^{}]*,[^{}]*)\}/;

/** A file whose members are grouped by key; `parts` maps extension (lower case) → bytes. */
export interface RawSample {
  key: string;
  shard: string;
  /** Position of the sample in its shard, counting every sample (usable or not). */
  index: number;
  parts: Map<string, Buffer>;
}

/** A usable sample: an encoded picture and its (normalised) captions. */
export interface ShardPair {
  key: string;
  shard: string;
  index: number;
  image: { ext: string; bytes: Buffer };
  captions: string[];
  /** The sample's json member, if any (the built-in set's style, group and label travel there). */
  json?: Record<string, unknown>;
}

export interface ShardReadOptions {
  /** json field holding the caption (a string or an array of strings) when there is no `txt`. */
  captionField?: string;
  /** Tries per shard; default SHARD_TRIES. */
  tries?: number;
  /** Pause before a retry, doubled each time (ms; default 200). */
  backoffMs?: number;
  strict?: boolean;
  /** Receives the one line about a shard that could not be read whole. */
  warn?: (line: string) => void;
}

/**
 * Whether a --data argument names shards: an http(s) URL, a brace pattern, a `.tar` file, a list
 * file of shards (`.txt`/`.shards` whose lines name `.tar` files), or a folder holding `.tar`
 * files and no caption file.
 */
export function isShardSpec(where: string): boolean {
  if (URL_RE.test(where) || BRACE_RE.test(where)) return true;
  if (/\.tar$/i.test(where)) return true;
  let stat: fs.Stats;
  try {
    stat = fs.statSync(where);
  } catch {
    return false;
  }
  if (stat.isDirectory()) return shardFolderSplits(where) !== null;
  return isListFile(where, stat.size);
}

function isListFile(file: string, size: number): boolean {
  if (size > 16 * 2 ** 20) return false;
  const lines = listLines(fs.readFileSync(file, 'utf8'));
  return lines.length > 0 && lines.every((l) => /\.tar(\?.*)?$/i.test(l) || (BRACE_RE.test(l) && /\.tar/i.test(l)));
}

const listLines = (text: string) =>
  text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));

/**
 * A folder of shards: `.tar` files at its top (one split), or one sub-folder of `.tar` files per
 * split (what `coca data shards` writes). Null when the folder is something else (it holds a
 * caption file a user-dataset reader would take, or no shards).
 */
export function shardFolderSplits(dir: string): { flat: string[] } | { splits: Record<string, string[]> } | null {
  const names = fs.readdirSync(dir);
  // A folder a dataset reader recognises stays that dataset, even with an archive lying in it.
  const CAPTION_FILE = /^(manifest\.json|captions\.jsonl|Flickr8k\.token\.txt|annotations|dataset_\w+\.json|captions_\w+\.json|.*\.tsv)$/;
  if (names.some((n) => CAPTION_FILE.test(n))) return null;
  const tars = (d: string) =>
    fs
      .readdirSync(d)
      .filter((n) => /\.tar$/i.test(n))
      .sort()
      .map((n) => path.join(d, n));
  const top = tars(dir);
  if (top.length > 0) return { flat: top };
  const splits: Record<string, string[]> = {};
  for (const n of names.sort()) {
    const sub = path.join(dir, n);
    if (!fs.statSync(sub).isDirectory()) continue;
    const t = tars(sub);
    if (t.length > 0) splits[n] = t;
  }
  return Object.keys(splits).length > 0 ? { splits } : null;
}

/** `a{00..03}b` → a00b … a03b (width kept); `a{x,y}b` → axb, ayb; several braces multiply. */
export function expandBraces(pattern: string): string[] {
  const m = BRACE_RE.exec(pattern);
  if (!m) return [pattern];
  const head = pattern.slice(0, m.index);
  const tail = pattern.slice(m.index + m[0].length);
  let items: string[];
  if (m[3] !== undefined) items = m[3].split(',');
  else {
    const [a, b] = [m[1]!, m[2]!];
    const [lo, hi] = [Number(a), Number(b)];
    if (hi < lo) throw new DataError(`shard pattern ${pattern}: the range {${a}..${b}} runs backwards; write the smaller number first`);
    if (hi - lo >= 1_000_000) throw new DataError(`shard pattern ${pattern}: the range {${a}..${b}} names over a million shards; check the pattern`);
    const width = a.length === b.length && a.startsWith('0') ? a.length : 0;
    items = Array.from({ length: hi - lo + 1 }, (_, k) => String(lo + k).padStart(width, '0'));
  }
  return items.flatMap((x) => expandBraces(head + x + tail));
}

/** The shards of each split a shard argument names; a single spec is one split, served as any name. */
export function resolveShards(where: string): { splits: Record<string, string[]> | null; all: string[] } {
  if (!URL_RE.test(where) && fs.existsSync(where) && fs.statSync(where).isDirectory()) {
    const found = shardFolderSplits(where);
    if (!found) throw new DataError(`${where} holds no .tar shards`);
    if ('flat' in found) return { splits: null, all: found.flat };
    return { splits: found.splits, all: Object.values(found.splits).flat() };
  }
  if (!URL_RE.test(where) && !BRACE_RE.test(where) && !/\.tar$/i.test(where)) {
    // A list file: one shard, URL or brace pattern per line, relative to the file's folder.
    const base = path.dirname(where);
    const all = listLines(fs.readFileSync(where, 'utf8')).flatMap((l) => expandBraces(URL_RE.test(l) || path.isAbsolute(l) ? l : path.join(base, l)));
    return { splits: null, all };
  }
  const all = expandBraces(where);
  return { splits: null, all };
}

/** The shards to read for a split: that split's folder, or, for a spec without splits, all of them. */
export function shardsOfSplit(where: string, split: string): string[] {
  const { splits, all } = resolveShards(where);
  if (!splits) {
    if (split !== 'train' && split !== 'all') throw new DataError(`${where} is a set of shards without splits, so it has no '${split}'; pass --split train (or all), or lay shards out as <folder>/<split>/*.tar (coca data shards does)`);
    return all;
  }
  if (split === 'all') return all;
  const s = splits[split];
  if (!s) throw new DataError(`${where} has no split '${split}'; it has ${Object.keys(splits).join(', ')}`);
  return s;
}

/**
 * The folder (or URL prefix) of this argument's shards: the folder given, a list file's folder, or
 * the first shard's. tokenizer.json and shards.json are looked for there, then one folder up
 * (a split's folder inside what `coca data shards` wrote).
 */
export function shardHome(where: string): string {
  if (!URL_RE.test(where) && fs.existsSync(where)) {
    if (fs.statSync(where).isDirectory()) return where;
    if (!/\.tar$/i.test(where)) return path.dirname(where);
  }
  const first = resolveShards(where).all[0] ?? where;
  const dir = URL_RE.test(first) ? first.slice(0, first.lastIndexOf('/')) : path.dirname(first);
  return dir;
}

/** `name` in the shards' folder or the one above it (local shards only), or undefined. */
export function besideShards(where: string, name: string): string | undefined {
  const home = shardHome(where);
  if (URL_RE.test(home)) return undefined;
  return [path.join(home, name), path.join(path.dirname(home), name)].find((f) => fs.existsSync(f));
}

/** The shard's bytes as a stream: a file, or the body of an http(s) GET (an HTTP error throws). */
async function openShard(shard: string): Promise<Readable> {
  if (!URL_RE.test(shard)) {
    if (!fs.existsSync(shard)) throw new ShardReadError(`no such file`, false);
    return fs.createReadStream(shard, { highWaterMark: 1 << 20 });
  }
  let res: Response;
  // A server that never answers counts as a failed try; once the body flows, it streams as long as it takes.
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), HEADERS_TIMEOUT_MS);
  try {
    res = await fetch(shard, { signal: ctl.signal });
  } catch (e) {
    if (ctl.signal.aborted) throw new ShardReadError(`no answer within ${HEADERS_TIMEOUT_MS / 1000} s`, true);
    throw new ShardReadError(`cannot connect (${(e as Error & { cause?: Error }).cause?.message ?? (e as Error).message})`, true);
  } finally {
    clearTimeout(timer);
  }
  if (!res.ok || !res.body) {
    await res.body?.cancel().catch(() => {});
    throw new ShardReadError(`HTTP ${res.status} ${res.statusText}`.trim(), res.status >= 500 || res.status === 429 || res.status === 408);
  }
  return Readable.fromWeb(res.body as WebReadableStream<Uint8Array>);
}

class ShardReadError extends Error {
  constructor(
    message: string,
    /** Worth trying again (a server error, a dropped connection, a truncated stream). */
    readonly transient: boolean,
  ) {
    super(message);
  }
}

/** WebDataset's key rule: the path up to the first dot of the basename, the rest (lower case) is the part. */
export function splitKey(name: string): { key: string; ext: string } | null {
  const slash = name.lastIndexOf('/');
  const dot = name.indexOf('.', slash + 1);
  if (dot < 0 || dot === slash + 1) return null;
  return { key: name.slice(0, dot), ext: name.slice(dot + 1).toLowerCase() };
}

/** Samples of one pass over a shard: consecutive members sharing a key. A truncated tail throws. */
async function* passOver(shard: string): AsyncGenerator<{ key: string; parts: Map<string, Buffer> }> {
  const input = await openShard(shard);
  const extract = tar.extract();
  // The first failure is the one to report: a cut-short archive can surface later, at a member
  // still waiting to be read, as "stream destroyed".
  let failure: Error | null = null;
  input.on('error', (e) => {
    failure ??= e;
    extract.destroy(e);
  });
  extract.on('error', (e) => {
    failure ??= e;
  });
  input.pipe(extract);
  let current: { key: string; parts: Map<string, Buffer> } | null = null;
  try {
    for await (const entry of extract) {
      const isFile = entry.header.type === 'file' || entry.header.type === 'contiguous-file';
      const k = isFile ? splitKey(entry.header.name) : null;
      // A new key completes the sample before it, even if this member's body turns out cut short.
      if (current && k && current.key !== k.key) {
        yield current;
        current = null;
      }
      const chunks: Buffer[] = [];
      for await (const c of entry) chunks.push(c as Buffer);
      if (!k) continue;
      current ??= { key: k.key, parts: new Map() };
      current.parts.set(k.ext, Buffer.concat(chunks));
    }
  } catch (e) {
    // The sample being collected may have lost members: it is never handed out.
    // A file on disk reads the same the next time; a download may not.
    const m = (failure ?? (e as Error)).message;
    throw new ShardReadError(/end of data|premature|aborted|terminated/i.test(m) ? `truncated (${m})` : m, URL_RE.test(shard));
  } finally {
    input.destroy();
  }
  if (current) yield current;
}

/**
 * Every sample of a shard in order, each with its index. A failing shard is read again from the
 * start (up to `tries` times), skipping the samples already yielded; then one line is warned (or,
 * strict, thrown) naming the shard, and the samples read so far stand.
 */
export async function* readShard(shard: string, o: ShardReadOptions = {}): AsyncGenerator<RawSample> {
  const tries = o.tries ?? SHARD_TRIES;
  let done = 0;
  for (let attempt = 1; ; attempt++) {
    let seen = 0;
    try {
      for await (const s of passOver(shard)) {
        if (seen++ < done) continue;
        done++;
        yield { ...s, shard, index: done - 1 };
      }
      return;
    } catch (e) {
      if (!(e instanceof ShardReadError)) throw e;
      if (e.transient && attempt < tries) {
        await new Promise((r) => setTimeout(r, (o.backoffMs ?? 200) * 2 ** (attempt - 1)));
        continue;
      }
      const line = `shard ${shard}: ${e.message}${attempt > 1 ? ` after ${attempt} tries` : ''}; ${done} samples read from it`;
      if (o.strict) throw new DataError(`${line} (--strict stops at the first unreadable shard)`);
      (o.warn ?? ((l: string) => console.warn(`coca: ${l}`)))(`warning: ${line}, the rest skipped; pass --strict to stop instead`);
      return;
    }
  }
}

/**
 * A pair's captions in languages other than English: the `i18n` object of its json
 * ({"ru": [...], "zh": [...]}, as `coca data shards` writes a built set made with languages),
 * normalised like the English ones; empty where it has none.
 */
export function pairTranslations(p: ShardPair): Record<string, string[]> {
  const raw = p.json?.i18n;
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return {};
  const out: Record<string, string[]> = {};
  for (const [lang, v] of Object.entries(raw as Record<string, unknown>)) {
    const list = Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : typeof v === 'string' ? [v] : [];
    const caps = [...new Set(list.map(normaliseCaption).filter((c) => c.length > 0))];
    if (caps.length > 0) out[lang] = caps;
  }
  return out;
}

/** The picture and captions of a sample, or null after counting why it cannot be used. */
export function pairOf(s: RawSample, problems: Problems, captionField = DEFAULT_CAPTION_FIELD): ShardPair | null {
  const where = `${s.shard}:${s.key}`;
  const ext = IMAGE_EXTS.find((e) => s.parts.has(e));
  if (!ext) {
    problems.add('samples without an image (jpg, jpeg, png or webp)', where);
    return null;
  }
  let json: Record<string, unknown> | undefined;
  const rawJson = s.parts.get('json');
  if (rawJson) {
    try {
      const j = JSON.parse(rawJson.toString('utf8')) as unknown;
      if (j && typeof j === 'object' && !Array.isArray(j)) json = j as Record<string, unknown>;
    } catch {
      problems.add('samples whose json is not JSON', where);
      return null;
    }
  }
  let raw: string[] = [];
  const txt = s.parts.get('txt');
  if (txt) raw = txt.toString('utf8').split('\n');
  else if (json) {
    const v = json[captionField];
    raw = typeof v === 'string' ? [v] : Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  }
  const captions = [...new Set(raw.map(normaliseCaption).filter((c) => c.length > 0))];
  if (captions.length === 0) {
    problems.add(`samples without a caption (txt or json "${captionField}")`, where);
    return null;
  }
  return { key: s.key, shard: s.shard, index: s.index, image: { ext, bytes: s.parts.get(ext)! }, captions, ...(json ? { json } : {}) };
}

/** Every usable pair of the given shards, in order (evaluation and the commands that look at all of a set). */
export async function readAllPairs(shards: readonly string[], problems: Problems, o: ShardReadOptions = {}): Promise<ShardPair[]> {
  const out: ShardPair[] = [];
  for (const shard of shards) {
    for await (const s of readShard(shard, { ...o, strict: problems.strict })) {
      const p = pairOf(s, problems, o.captionField);
      if (p) out.push(p);
    }
  }
  return out;
}
