// Builds the built-in dataset: fetch the art packages, join them with their names, split by
// concept, rasterise every picture on white at each size, learn the tokenizer on the train
// captions (of every language of the preset), and write it all (with licences) to a temporary
// folder renamed into place at the end.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Triple } from '../augment.ts';
import { DataError } from '../errors.ts';
import type { FetchOptions } from '../fetch.ts';
import { loadSquare } from '../image.ts';
import { mapLimit } from '../pool.ts';
import { hashString } from '../rng.ts';
import { assignGroups, groupItems } from '../split.ts';
import { FORMAT, FORMAT_VERSION, ImageWriter, imageFile, writeItems, type Manifest, type StoredItem } from '../store.ts';
import { trainTokenizer } from '../tokenizer.ts';
import { DEFAULT_LANGUAGE } from '../lang.ts';
import { checkOutputFolder, fsReason, heldFormat, writeOutputMarker } from '../../util/outdir.ts';
import { emojiSources, type EmojiStyle } from './emoji.ts';
import { FMNIST_CLASSES, fmnistTest } from './fmnist.ts';
import { gameIconsSource } from './gameicons.ts';
import { writeLicenses } from './licenses.ts';
import { tuxpaintSource } from './tuxpaint.ts';
import type { SourceInfo, SourcePair } from './types.ts';

export interface BuildPreset {
  name: string;
  sizes: number[];
  emojiStyles: EmojiStyle[];
  /** Keep skin-tone variants (45% of emoji, near-duplicate captions). */
  tones: boolean;
  /** Keep at most this many game icons (chosen by seeded hash); undefined keeps all. */
  gameIcons?: number;
  /** Tokenizer size for English captions only, and for more languages (which share the vocabulary). */
  vocabSize: number;
  multilingualVocabSize: number;
  /** Fashion-MNIST test images to keep for zero-shot classification. */
  fmnist: number;
  /**
   * Caption languages, English first. Emoji take theirs from emojibase-data's CLDR locales, Tux
   * Paint stamps from the project's translations; game icons and Fashion-MNIST have none, so
   * stay English. More than English gives the tokenizer one token per language.
   */
  languages: readonly string[];
}

export const PRESETS: Record<'small' | 'full', BuildPreset> = {
  // The small set (CI, tests, the demo) stays English: its nano model has minutes to learn one language.
  small: { name: 'builtin-small', sizes: [32], emojiStyles: ['openmoji', 'twitter', 'fluent'], tones: false, gameIcons: 1000, vocabSize: 1024, multilingualVocabSize: 2048, fmnist: 1000, languages: ['en'] },
  full: { name: 'builtin', sizes: [64, 128], emojiStyles: ['google', 'twitter', 'openmoji', 'fluent'], tones: true, vocabSize: 2048, multilingualVocabSize: 4096, fmnist: 10000, languages: ['en', 'ru', 'zh', 'ms'] },
};

/** A preset with other caption languages (English stays first), e.g. `coca data build --small --languages en,ru,zh,ms`. */
export function withLanguages(preset: BuildPreset, languages: readonly string[]): BuildPreset {
  const rest = languages.filter((l) => l !== DEFAULT_LANGUAGE);
  return { ...preset, languages: [DEFAULT_LANGUAGE, ...new Set(rest)] };
}

/** The tokenizer size of a build: languages share one vocabulary, so more of them get more ids. */
export function presetVocabSize(preset: BuildPreset): number {
  return preset.languages.length > 1 ? preset.multilingualVocabSize : preset.vocabSize;
}


export const SPLIT_ABOUT: Record<string, string> = {
  train: 'training pairs: emoji (non-Fluent styles), Tux Paint stamps, game-icons',
  val: 'held-out concepts, same styles as train (model selection)',
  'test-concept': 'held-out concepts, same styles as train: captions never seen in training',
  'test-style': 'Fluent 3-D emoji (a style never seen in training) of concepts seen in training',
  'test-fmnist': 'Fashion-MNIST test images for zero-shot classification (10 classes, dark on white)',
};

export interface BuildOptions extends FetchOptions {
  preset: BuildPreset;
  out: string;
  seed: number;
  /** Stop at the first image that cannot be decoded instead of skipping it. */
  strict?: boolean;
  /** Parallel decodes; sharp spreads them over libuv's threads. */
  concurrency?: number;
  progress?: (stage: string, done: number, total: number) => void;
}

export interface BuildResult {
  dir: string;
  manifest: Manifest;
}

const FRACTIONS = { val: 0.05, test: 0.05 };

const COMMAND = 'coca data build';

/** A build from before the output marker: a coca dataset manifest. */
const isEarlierBuild = (dir: string) => heldFormat(dir, 'manifest.json', FORMAT);

/** Refuses an --out that is neither new, empty, nor an earlier build (before anything is fetched). */
export function checkBuildOut(out: string): string {
  return checkOutputFolder(out, COMMAND, { isOwnLegacy: isEarlierBuild });
}

export async function buildBuiltin(opts: BuildOptions): Promise<BuildResult> {
  const t0 = performance.now();
  const { preset, seed } = opts;
  checkBuildOut(opts.out);
  const fetchOpts: FetchOptions = opts.log ? { log: opts.log } : {};
  // Debian packages one after the other: a fallback `apt-get update` holds apt's list lock.
  const debs = (async () => [await tuxpaintSource(fetchOpts, preset.languages), await fmnistTest(fetchOpts)] as const)();
  const [emoji, icons, [tux, fm]] = await Promise.all([emojiSources(preset.emojiStyles, fetchOpts, preset.languages), gameIconsSource(fetchOpts), debs]);
  let iconPairs = icons.pairs;
  if (preset.gameIcons !== undefined) {
    iconPairs = [...iconPairs].sort((a, b) => hashString(a.id, seed) - hashString(b.id, seed)).slice(0, preset.gameIcons);
  }
  const pairs = [...emoji.pairs, ...tux.pairs, ...iconPairs].filter((p) => preset.tones || !p.tone);
  const splits = splitPairs(pairs, seed);

  const tmp = `${opts.out}.tmp-${process.pid}`;
  try {
    // What an interrupted build of this process left goes first; inside the try, as the suffix
    // alone can make the name too long for the file system (--out itself passed the checks).
    fs.rmSync(tmp, { recursive: true, force: true });
    fs.mkdirSync(tmp, { recursive: true });
  } catch (e) {
    throw new DataError(`cannot create ${tmp} (${fsReason(e)}); choose an --out you can write to`);
  }
  try {
    writeOutputMarker(tmp, COMMAND);
    const skipped: string[] = [];
    const counts: Record<string, number> = {};
    let stats: { mean: Triple; std: Triple } | undefined;
    for (const [split, list] of Object.entries(splits)) {
      const kept = await rasterise(tmp, split, list, preset.sizes, opts, skipped);
      counts[split] = kept.length;
      writeItems(tmp, split, kept.map(storedItem));
      if (split === 'train') stats = channelStats(imageFile(tmp, split, preset.sizes[0]!));
    }
    counts['test-fmnist'] = await writeFmnist(tmp, fm.images, preset, seed, opts);
    if (!stats || counts['train'] === 0) throw new DataError('the built-in training split came out empty; check the fetched sources under the cache folder');

    const trainCaptions = splits.train.flatMap((p) => [p.caption, ...Object.values(p.translations ?? {})]);
    const multilingual = preset.languages.length > 1;
    opts.log?.(`learning a ${presetVocabSize(preset)}-token byte-level BPE on ${trainCaptions.length} train captions${multilingual ? ` in ${preset.languages.join(', ')}` : ''}`);
    const tok = trainTokenizer(trainCaptions, presetVocabSize(preset), multilingual ? preset.languages : []);
    tok.save(path.join(tmp, 'tokenizer.json'));

    const infos: SourceInfo[] = [...emoji.info, ...tux.info, ...icons.info, fm.info];
    writeLicenses(tmp, infos);
    const manifest: Manifest = {
      format: FORMAT,
      version: FORMAT_VERSION,
      name: preset.name,
      imageSizes: preset.sizes,
      splits: Object.fromEntries(Object.entries(counts).map(([s, count]) => [s, { count, about: SPLIT_ABOUT[s] ?? s }])),
      mean: stats.mean,
      std: stats.std,
      seed,
      classes: { 'test-fmnist': FMNIST_CLASSES },
      sources: infos.map((i) => ({ name: i.name, version: i.version, license: i.license, role: i.role, pairs: i.name === fm.info.name ? counts['test-fmnist'] : countPairs(splits, i.name) })),
      build: { seconds: 0, bytes: 0, skipped: skipped.length, at: new Date().toISOString(), preset: preset.name },
      tokenizer: { file: 'tokenizer.json', vocabSize: tok.vocabSize },
      languages: [...preset.languages],
    };
    manifest.build.seconds = Math.round((performance.now() - t0) / 100) / 10;
    manifest.build.bytes = folderBytes(tmp);
    fs.writeFileSync(path.join(tmp, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
    if (skipped.length > 0) {
      opts.log?.(`warning: skipped ${skipped.length} pictures that could not be decoded, first: ${skipped.slice(0, 3).join('; ')}`);
    }
    replaceFolder(tmp, opts.out);
    return { dir: opts.out, manifest };
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

type GroupedPair = SourcePair & { group: string };

/** How a pair is stored: English in `captions` (what every English-only reader takes), the others in `i18n`. */
export function storedItem(p: GroupedPair): StoredItem {
  const item: StoredItem = { id: p.id, captions: [p.caption], group: p.group, style: p.style };
  const langs = Object.keys(p.translations ?? {});
  if (langs.length > 0) item.i18n = Object.fromEntries(langs.map((l) => [l, [p.translations![l]!]]));
  return item;
}

/** train / val / test-concept from the non-Fluent styles; test-style from Fluent art of train groups. */
export function splitPairs(pairs: readonly SourcePair[], seed: number): Record<'train' | 'val' | 'test-concept' | 'test-style', GroupedPair[]> {
  const groups = groupItems(pairs);
  const grouped = pairs.map((p, i) => ({ ...p, group: groups[i]! }));
  const seen = grouped.filter((p) => p.style !== 'fluent');
  const side = assignGroups(
    seen.map((p) => p.group),
    seed,
    FRACTIONS,
  );
  const out = { train: [] as GroupedPair[], val: [] as GroupedPair[], 'test-concept': [] as GroupedPair[], 'test-style': [] as GroupedPair[] };
  for (const p of grouped) {
    const s = side.get(p.group);
    if (p.style === 'fluent') {
      if (s === 'train') out['test-style'].push(p);
    } else if (s === 'train') out.train.push(p);
    else if (s === 'val') out.val.push(p);
    else out['test-concept'].push(p);
  }
  return out;
}

async function rasterise(dir: string, split: string, list: GroupedPair[], sizes: number[], opts: BuildOptions, skipped: string[]): Promise<GroupedPair[]> {
  const concurrency = opts.concurrency ?? Math.max(2, os.availableParallelism() * 2);
  let done = 0;
  const pictures = await mapLimit(list.length, concurrency, async (i) => {
    try {
      const out = await Promise.all(sizes.map((s) => loadSquare(list[i]!.image, s, 'contain')));
      return out;
    } catch (e) {
      if (opts.strict) throw e;
      skipped.push(`${list[i]!.id} (${(e as Error).message})`);
      return undefined;
    } finally {
      opts.progress?.(split, ++done, list.length);
    }
  });
  const kept = list.filter((_, i) => pictures[i] !== undefined);
  for (const [k, size] of sizes.entries()) {
    const w = new ImageWriter(imageFile(dir, split, size), size);
    let j = 0;
    for (const p of pictures) if (p) w.write(p[k]!, j++);
    w.close();
  }
  return kept;
}

async function writeFmnist(dir: string, images: Awaited<ReturnType<typeof fmnistTest>>['images'], preset: BuildPreset, seed: number, opts: BuildOptions): Promise<number> {
  // The small build keeps a class-balanced-in-expectation subset picked by seeded hash.
  const order = Array.from({ length: images.count }, (_, i) => i);
  const pick = preset.fmnist >= images.count ? order : order.sort((a, b) => hashString(`fm${a}`, seed) - hashString(`fm${b}`, seed)).slice(0, preset.fmnist).sort((a, b) => a - b);
  const px = images.width * images.height;
  let done = 0;
  const pictures = await mapLimit(pick.length, opts.concurrency ?? 8, async (k) => {
    const i = pick[k]!;
    const gray = images.pixels.subarray(i * px, (i + 1) * px);
    const out = await Promise.all(preset.sizes.map((s) => loadSquare({ gray, width: images.width, height: images.height }, s, 'contain')));
    opts.progress?.('test-fmnist', ++done, pick.length);
    return out;
  });
  for (const [k, size] of preset.sizes.entries()) {
    const w = new ImageWriter(imageFile(dir, 'test-fmnist', size), size);
    pictures.forEach((p, j) => w.write(p[k]!, j));
    w.close();
  }
  const items: StoredItem[] = pick.map((i) => ({ id: `fmnist/${i}`, captions: [FMNIST_CLASSES[images.labels[i]!]!], label: images.labels[i]!, style: 'fashion-mnist' }));
  writeItems(dir, 'test-fmnist', items);
  return items.length;
}

/** Per-channel mean and standard deviation of a .u8 image file, on [0, 1]. */
export function channelStats(file: string): { mean: Triple; std: Triple } {
  const buf = fs.readFileSync(file);
  const sum = [0, 0, 0];
  const sq = [0, 0, 0];
  for (let i = 0; i < buf.length; i++) {
    const v = buf[i]! / 255;
    sum[i % 3]! += v;
    sq[i % 3]! += v * v;
  }
  const n = buf.length / 3;
  const mean = sum.map((s) => s / n);
  const std = sq.map((s, c) => Math.sqrt(Math.max(s / n - mean[c]! ** 2, 1e-12)));
  const r = (x: number) => Math.round(x * 1e6) / 1e6;
  return { mean: [r(mean[0]!), r(mean[1]!), r(mean[2]!)], std: [r(std[0]!), r(std[1]!), r(std[2]!)] };
}

function countPairs(splits: Record<string, GroupedPair[]>, source: string): number {
  const styleOf: Record<string, string> = {
    'emoji-datasource-google': 'google',
    'emoji-datasource-twitter': 'twitter',
    openmoji: 'openmoji',
    '@lobehub/fluent-emoji-3d': 'fluent',
    'tuxpaint-stamps-default': 'tuxpaint',
    '@iconify-json/game-icons': 'game-icons',
  };
  const style = styleOf[source];
  if (!style) return 0;
  return Object.values(splits).reduce((n, list) => n + list.filter((p) => p.style === style).length, 0);
}

function folderBytes(dir: string): number {
  return fs.readdirSync(dir).reduce((n, f) => n + fs.statSync(path.join(dir, f)).size, 0);
}

/** The files any build writes (its splits, at any size), whatever the preset. */
const BUILD_FILE = /^(\.coca-output\.json|LICENSES\.md|manifest\.json|tokenizer\.json|[a-z0-9-]+\.(jsonl|\d+px\.u8))$/;

/**
 * Swaps the new build in; the old one is removed only once the new one is in place, and only
 * when it holds nothing but what a build writes (a file added to it by hand keeps it where it is).
 */
function replaceFolder(tmp: string, out: string): void {
  fs.mkdirSync(path.dirname(out), { recursive: true });
  const old = `${out}.old-${process.pid}`;
  if (fs.existsSync(out)) {
    checkBuildOut(out);
    const made = new Set(fs.readdirSync(tmp));
    const foreign = fs.readdirSync(out).filter((f) => !made.has(f) && !BUILD_FILE.test(f));
    if (foreign.length > 0) throw new DataError(`${out} holds files a build does not write (${foreign.slice(0, 3).join(', ')}); move them out or build into a new --out, nothing was changed`);
    fs.renameSync(out, old);
  }
  fs.renameSync(tmp, out);
  fs.rmSync(old, { recursive: true, force: true });
}
