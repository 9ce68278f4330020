// `coca data`: build the built-in dataset, describe a dataset, and summarise it with a contact sheet.
import path from 'node:path';
import cliProgress from 'cli-progress';
import type { Argv } from 'yargs';
import fs from 'node:fs';
import { buildBuiltin, checkBuildOut, PRESETS, withLanguages } from '../data/builtin/build.ts';
import { DEFAULT_LANGUAGE, LANGUAGES } from '../data/lang.ts';
import type { Dataset } from '../data/dataset.ts';
import { DataError } from '../data/errors.ts';
import { isBuiltDataset, isShardData, listSplits, loadDataset, loadTokenizer, resolveDataPath } from '../data/load.ts';
import { writeShards } from '../data/shard-writer.ts';
import { openShardDataset } from '../data/readers/shard-dataset.ts';
import { resolveShards } from '../data/readers/webdataset.ts';
import { builtinDir } from '../data/paths.ts';
import { readUserDataset, splitOf } from '../data/readers/index.ts';
import { manifestLanguages, readManifest } from '../data/store.ts';
import { contactSheet, histogramLines, splitStats, wordsOf } from '../data/stats.ts';
import { trainTokenizer, type Tokenizer } from '../data/tokenizer.ts';
import sharp from 'sharp';
import { Rng } from '../util/prng.ts';
import { checkOutputFile, checkOutputFolder, claimOutputFolder } from '../util/outdir.ts';
import { checkInt } from './numbers.ts';

interface BuildArgs {
  'if-missing': boolean;
  small: boolean;
  out?: string;
  seed: number;
  strict: boolean;
  languages?: string;
}

function progressBar(): { update: (stage: string, done: number, total: number) => void; stop: () => void } {
  if (!process.stderr.isTTY) {
    // Logs (CI) get one line per finished stage instead of a redrawn bar.
    return { update: (stage, done, total) => done === total && console.error(`  ${stage}: ${total} pictures`), stop: () => {} };
  }
  const bar = new cliProgress.SingleBar({ format: '  {stage} [{bar}] {value}/{total} {eta_formatted}', stream: process.stderr, hideCursor: true }, cliProgress.Presets.shades_classic);
  let current = '';
  return {
    update(stage, done, total) {
      if (stage !== current) {
        if (current) bar.stop();
        bar.start(total, 0, { stage: stage.padEnd(12) });
        current = stage;
      }
      bar.update(done);
    },
    stop: () => bar.stop(),
  };
}

/** Whether `dir` holds this build; one from before languages counts as English only, so a build asked for in more is redone. */
export function sameBuild(dir: string, preset: string, seed: number, languages: readonly string[]): boolean {
  try {
    const m = readManifest(dir);
    return m.build.preset === preset && m.seed === seed && manifestLanguages(m).join(',') === languages.join(',');
  } catch {
    return false;
  }
}

/** --languages as a list of known languages, or one line naming the unknown one. */
function parseLanguages(arg: string): string[] {
  const langs = arg.split(',').map((l) => l.trim().toLowerCase()).filter((l) => l.length > 0);
  const unknown = langs.find((l) => !(LANGUAGES as readonly string[]).includes(l));
  if (unknown !== undefined || langs.length === 0) throw new DataError(`--languages: ${unknown === undefined ? 'no language given' : `unknown language '${unknown}'`}; the built-in set has captions in ${LANGUAGES.join(', ')}`);
  return langs;
}

const buildCommand = {
  command: 'build',
  describe: 'Build the built-in image–text dataset from packaged art (fetched on demand into the cache)',
  builder: (y: Argv) =>
    y
      .option('small', { type: 'boolean', default: false, describe: 'a few thousand pairs at 32 px (tests, CI, demo) instead of all pairs at 64 and 128 px' })
      .option('out', { type: 'string', describe: 'output folder (default: the cache, where loadDataset("builtin") looks)' })
      .option('seed', { type: 'number', default: 0, describe: 'seed of the concept split and of subsampling' })
      .option('strict', { type: 'boolean', default: false, describe: 'stop at the first picture that cannot be decoded' })
      .option('languages', { type: 'string', describe: `comma list of caption languages from ${LANGUAGES.join(', ')} (English always included) [default: en for --small, ${PRESETS.full.languages.join(',')} for the full set]` })
      .option('if-missing', { type: 'boolean', default: false, describe: 'do nothing when this build (same preset, seed and languages) is already there' }),
  handler: async (args: BuildArgs) => {
    checkInt('seed', args.seed, 0);
    const base = args.small ? PRESETS.small : PRESETS.full;
    const preset = args.languages === undefined ? base : withLanguages(base, parseLanguages(args.languages));
    const out = path.resolve(args.out ?? builtinDir(args.small));
    if (args['if-missing'] && sameBuild(out, preset.name, args.seed, preset.languages)) {
      console.log(`${preset.name} is already built at ${out}`);
      return;
    }
    checkBuildOut(args.out ?? out);
    console.error(`coca data build: ${preset.name} (${preset.sizes.join(', ')} px, captions in ${preset.languages.join(', ')}) → ${out}`);
    const bar = progressBar();
    const { manifest } = await buildBuiltin({ preset, out, seed: args.seed, strict: args.strict, log: (l) => console.error(`  ${l}`), progress: bar.update }).finally(bar.stop);
    for (const [split, info] of Object.entries(manifest.splits)) console.log(`${split.padEnd(13)} ${String(info.count).padStart(6)}  ${info.about}`);
    console.log(`built in ${manifest.build.seconds} s, ${(manifest.build.bytes / 2 ** 20).toFixed(1)} MiB, vocabulary ${manifest.tokenizer.vocabSize}, skipped ${manifest.build.skipped}`);
  },
};

interface DataArgs {
  data: string;
  strict: boolean;
  seed: number;
  'caption-field': string;
}

const dataOption = (y: Argv) =>
  y
    .option('data', { type: 'string', default: 'builtin-small', describe: "'builtin', 'builtin-small', a built dataset folder, your dataset (folder or caption file), or WebDataset shards (a .tar, shards/{00000..00099}.tar, a list file, http(s):// URLs, a folder of shards)" })
    .option('caption-field', { type: 'string', default: 'caption', describe: 'WebDataset shards: the json field a caption is read from when a sample has no .txt' })
    .option('strict', { type: 'boolean', default: false, describe: 'stop at the first missing or corrupt image, empty caption or bad line' })
    .option('seed', { type: 'number', default: 0, describe: 'seed of the train/val/test assignment for datasets without splits' });

const infoCommand = {
  command: 'info',
  describe: 'Say what a dataset is: format, splits and their sizes, image sizes, sources',
  builder: dataOption,
  handler: async (args: DataArgs) => {
    checkInt('seed', args.seed, 0);
    const p = resolveDataPath(args.data);
    if (isShardData(args.data)) {
      const { splits, all } = resolveShards(args.data);
      console.log(`WebDataset shards ${args.data}: ${all.length} shard${all.length > 1 ? 's' : ''}${splits ? `, splits ${Object.keys(splits).join(', ')}` : ' (one split: train, all)'}`);
      for (const [split, shards] of Object.entries(splits ?? { train: all })) {
        const ds = await openShardDataset(args.data, { split, imageSize: 64, strict: args.strict, captionField: args['caption-field'] });
        let pairs = 0;
        for (let i = 0; i < ds.length; i++) pairs += ds.captions(i).length;
        console.log(`  ${split.padEnd(13)} ${String(ds.length).padStart(7)} images ${String(pairs).padStart(8)} pairs in ${shards.length} shard${shards.length > 1 ? 's' : ''}`);
      }
      return;
    }
    if (isBuiltDataset(p)) {
      const m = readManifest(p);
      console.log(`${m.name} at ${p}: image sizes ${m.imageSizes.join(', ')} px, seed ${m.seed}, vocabulary ${m.tokenizer.vocabSize}, captions in ${manifestLanguages(m).join(', ')}`);
      for (const [split, info] of Object.entries(m.splits)) console.log(`  ${split.padEnd(13)} ${String(info.count).padStart(6)}  ${info.about}`);
      console.log(`  mean ${m.mean.join(' ')}  std ${m.std.join(' ')}`);
      for (const s of m.sources) console.log(`  source ${s.name} ${s.version} (${s.license}): ${s.role === 'names' ? 'names' : `${s.pairs} pictures`}`);
      console.log(`  built ${m.build.at} in ${m.build.seconds} s, ${(m.build.bytes / 2 ** 20).toFixed(1)} MiB`);
      return;
    }
    const r = await readUserDataset(p, { strict: args.strict, seed: args.seed });
    const counts = new Map<string, { images: number; pairs: number }>();
    for (const rec of r.records) {
      const s = splitOf(rec, args.seed, r.root);
      const c = counts.get(s) ?? { images: 0, pairs: 0 };
      c.images++;
      c.pairs += rec.captions.length;
      counts.set(s, c);
    }
    console.log(`${r.format} dataset ${r.file}: ${r.records.length} images, ${r.problems.total} entries skipped`);
    for (const [s, c] of [...counts].sort()) console.log(`  ${s.padEnd(6)} ${String(c.images).padStart(7)} images ${String(c.pairs).padStart(8)} pairs`);
  },
};

interface StatsArgs extends DataArgs {
  sheet?: string;
  split?: string;
  'context-length': number;
}

const statsCommand = {
  command: 'stats',
  describe: 'Summarise a dataset: pairs per split, distinct captions, caption lengths, vocabulary coverage, a contact sheet PNG',
  builder: (y: Argv) =>
    dataOption(y)
      .option('sheet', { type: 'string', describe: 'write a contact sheet of random samples to this PNG' })
      .option('split', { type: 'string', describe: 'split shown on the contact sheet (default: train)' })
      .option('context-length', { type: 'number', default: 32, describe: 'token row length to check captions against' }),
  handler: async (args: StatsArgs) => {
    checkInt('seed', args.seed, 0);
    checkInt('context-length', args['context-length'], 2);
    const p = resolveDataPath(args.data);
    if (args.sheet) checkOutputFile(args.sheet, { option: '--sheet', inputs: [asInput(args.data)] });
    const splits = listSplits(args.data);
    let tokenizer: Tokenizer | undefined;
    if (fs.existsSync(`${p}/tokenizer.json`)) tokenizer = loadTokenizer(args.data);
    const open = (split: string) => loadDataset(args.data, { split, strict: args.strict, seed: args.seed, captionField: args['caption-field'], warn: () => {} });
    const train = await open(splits.includes('train') ? 'train' : splits[0]!);
    const trainWords = wordsOf(train);
    if (!tokenizer && !isBuiltDataset(p)) tokenizer = trainTokenizer(collect(train), 2048);
    for (const split of splits.filter((s) => s !== 'all')) {
      let ds;
      try {
        ds = split === train.split ? train : await open(split);
      } catch (e) {
        if (e instanceof DataError && / has no items in split /.test(e.message)) continue;
        throw e;
      }
      const st = splitStats(ds, { ...(tokenizer ? { tokenizer } : {}), contextLength: args['context-length'], ...(split !== train.split ? { trainWords } : {}) });
      const cov = st.wordCoverage === undefined ? '' : `, ${(st.wordCoverage * 100).toFixed(1)}% of words seen in train`;
      const tok = st.tokens ? `, tokens mean ${st.tokens.mean.toFixed(1)} max ${st.tokens.max} (${st.tokens.overContext} over ${args['context-length']})` : '';
      console.log(`${split}: ${st.images} images, ${st.pairs} pairs, ${st.distinctCaptions} distinct captions${tok}${cov}`);
      if (split === train.split) {
        console.log('  caption length in words:');
        for (const l of histogramLines(st.wordHistogram)) console.log(`   ${l}`);
      }
    }
    if (args.sheet) {
      const ds = args.split && args.split !== train.split ? await open(args.split) : train;
      await contactSheet(ds, args.sheet, { seed: args.seed });
      console.log(`contact sheet of ${ds.split}: ${args.sheet}`);
    }
  },
};

function collect(ds: { length: number; captions(i: number): readonly string[] }): string[] {
  const out: string[] = [];
  for (let i = 0; i < ds.length; i++) out.push(...ds.captions(i));
  return out;
}

interface TokArgs extends DataArgs {
  out: string;
  'vocab-size': number;
}

interface ExportArgs extends DataArgs {
  split: string;
  count: number;
  out: string;
  lang: string;
}

const EXPORT = 'coca data export';

/** A --data argument as an input path, as the user spelled it (the built-in names as their folder). */
export const asInput = (data: string) => (data === 'builtin' || data === 'builtin-small' ? resolveDataPath(data) : data);

function isTokenizerFile(file: string): boolean {
  try {
    return typeof (JSON.parse(fs.readFileSync(file, 'utf8')) as { model?: unknown }).model === 'object';
  } catch {
    return false;
  }
}

/** Item captions in --lang, or one line naming the languages the dataset has (before --out is touched). */
function exportLanguage(ds: Dataset, args: ExportArgs): (i: number) => readonly string[] {
  const have = ds.languages ?? [DEFAULT_LANGUAGE];
  if (!have.includes(args.lang)) {
    const more = have.length === 1 ? `; the built-in set has ${LANGUAGES.join(', ')} when built with them (coca data build --languages ${LANGUAGES.join(',')})` : '';
    throw new DataError(`--lang ${args.lang}: ${args.data} has captions in ${have.join(', ')}${more}; nothing was written`);
  }
  return args.lang === DEFAULT_LANGUAGE || !ds.captionsIn ? (i) => ds.captions(i) : (i) => ds.captionsIn!(i, args.lang);
}

const exportCommand = {
  command: 'export',
  describe: 'Write some pictures of a split as PNG files with their captions (held-out images to try coca caption on)',
  builder: (y: Argv) =>
    dataOption(y)
      .option('split', { type: 'string', default: 'test-concept', describe: 'split to take pictures from' })
      .option('count', { type: 'number', default: 3, describe: 'how many pictures (drawn with --seed)' })
      .option('out', { type: 'string', demandOption: true, describe: 'folder for the PNG files and captions.tsv' })
      .option('lang', { type: 'string', default: 'en', describe: `caption language of captions.tsv and the lines printed: one the dataset has (the full built-in set: ${PRESETS.full.languages.join(', ')}; builtin-small and users' sets: en; coca data info lists a set's); pictures are drawn among those with a caption in it` })
      .example('$0 data export --data builtin --lang ru --out ru-pictures', 'three held-out pictures with their Russian captions'),
  handler: async (args: ExportArgs) => {
    checkInt('seed', args.seed, 0);
    checkInt('count', args.count, 1);
    const where = { inputs: [asInput(args.data)] };
    checkOutputFolder(args.out, EXPORT, where);
    const ds = await loadDataset(args.data, { split: args.split, seed: args.seed, captionField: args['caption-field'], warn: () => {} });
    const captionsOf = exportLanguage(ds, args);
    // Only pictures with a caption in the language (every one for English, as before).
    const pool = Array.from({ length: ds.length }, (_, i) => i).filter((i) => captionsOf(i).length > 0 || args.lang === DEFAULT_LANGUAGE);
    if (pool.length === 0) throw new DataError(`no picture of ${args.data}'s ${args.split} split has a caption in ${args.lang}; try another --split (coca data info --data ${args.data}); nothing was written`);
    claimOutputFolder(args.out, EXPORT, where);
    const rng = new Rng(args.seed);
    const picked = new Set<number>();
    while (picked.size < Math.min(args.count, pool.length)) picked.add(pool[rng.int(pool.length)]!);
    const lines: string[] = [];
    for (const i of picked) {
      const img = await ds.image(i, 'eval');
      const name = `${args.split}-${i}.png`;
      await sharp(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength), { raw: { width: img.width, height: img.height, channels: 3 } }).png().toFile(path.join(args.out, name));
      lines.push(`${name}\t${captionsOf(i)[0] ?? ''}`);
      console.log(`${path.join(args.out, name)}  (${captionsOf(i)[0] ?? ''})`);
    }
    fs.writeFileSync(path.join(args.out, 'captions.tsv'), lines.join('\n') + '\n');
  },
};

const tokenizerCommand = {
  command: 'tokenizer',
  describe: "Learn a byte-level BPE tokenizer.json from a dataset's train captions",
  builder: (y: Argv) =>
    dataOption(y)
      .option('out', { type: 'string', demandOption: true, describe: 'where to write tokenizer.json' })
      .option('vocab-size', { type: 'number', default: 2048, describe: 'vocabulary size, specials and the 256 byte tokens included' }),
  handler: async (args: TokArgs) => {
    checkInt('seed', args.seed, 0);
    checkInt('vocab-size', args['vocab-size'], 260);
    // Your own dataset's tokenizer.json lives beside its captions; a built one's is part of the build.
    const p = resolveDataPath(args.data);
    checkOutputFile(args.out, { inputs: isBuiltDataset(p) ? [asInput(args.data)] : [] });
    if (fs.existsSync(args.out) && !isTokenizerFile(args.out)) throw new DataError(`--out ${args.out} exists and is not a tokenizer.json; name a new file (nothing was changed)`);
    const ds = await loadDataset(args.data, { split: 'train', strict: args.strict, seed: args.seed, captionField: args['caption-field'] });
    const tok = trainTokenizer(collect(ds), args['vocab-size']);
    tok.save(args.out);
    console.log(`${args.out}: ${tok.vocabSize} tokens from ${ds.length} train images`);
  },
};

interface ShardsArgs extends DataArgs {
  out: string;
  'per-shard': number;
  split?: string[];
  shuffle: boolean;
}

const SHARDS = 'coca data shards';

const shardsCommand = {
  command: 'shards',
  describe: 'Write a dataset as WebDataset shards (<out>/<split>/00000.tar …, with tokenizer.json and shards.json), to stream with --data <out>',
  builder: (y: Argv) =>
    dataOption(y)
      .option('out', { type: 'string', demandOption: true, describe: 'folder for the shards: new, empty, or written by coca data shards before' })
      .option('per-shard', { type: 'number', default: 1000, describe: 'samples per shard' })
      .option('split', { type: 'string', array: true, describe: 'splits to write [default: every split of the dataset]' })
      .option('shuffle', { type: 'boolean', default: true, describe: "write each split in a random order drawn with --seed (a stream's shuffle buffer only mixes neighbours); --no-shuffle keeps the dataset's order" })
      .example('$0 data shards --data builtin --out shards/builtin', 'pack the built-in set once; then coca train --data shards/builtin')
      .example("$0 train --data 'shards/builtin/train/{00000..00005}.tar'", 'shards by brace pattern (one split)'),
  handler: async (args: ShardsArgs) => {
    checkInt('seed', args.seed, 0);
    checkInt('per-shard', args['per-shard'], 1);
    const where = { inputs: [asInput(args.data)] };
    checkOutputFolder(args.out, SHARDS, where);
    resolveDataPath(args.data);
    claimOutputFolder(args.out, SHARDS, where);
    const info = await writeShards(args.data, args.out, {
      perShard: args['per-shard'],
      shuffle: args.shuffle,
      ...(args.split ? { splits: args.split } : {}),
      seed: args.seed,
      strict: args.strict,
      captionField: args['caption-field'],
      log: (l) => console.log(l),
      warn: (l) => console.error(`coca: ${l}`),
    });
    const total = Object.values(info.splits).reduce((n, s) => n + s.samples, 0);
    console.log(`wrote ${total} samples to ${args.out}; train with --data ${args.out}`);
  },
};

export const dataCommand = {
  command: 'data <command>',
  describe: 'Build, inspect and summarise image–text datasets',
  builder: (y: Argv) => y.command(buildCommand).command(infoCommand).command(statsCommand).command(tokenizerCommand).command(exportCommand).command(shardsCommand).demandCommand(1, 'Name a data command: build, info, stats, tokenizer, export or shards.'),
  handler: () => {},
};
