// `coca data`: build the built-in dataset, describe a dataset, and summarise it with a contact sheet.
import path from 'node:path';
import cliProgress from 'cli-progress';
import type { Argv } from 'yargs';
import { buildBuiltin, PRESETS } from '../data/builtin/build.ts';
import { builtinDir } from '../data/paths.ts';

interface BuildArgs {
  small: boolean;
  out?: string;
  seed: number;
  strict: boolean;
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

const buildCommand = {
  command: 'build',
  describe: 'Build the built-in image–text dataset from packaged art (fetched on demand into the cache)',
  builder: (y: Argv) =>
    y
      .option('small', { type: 'boolean', default: false, describe: 'a few thousand pairs at 32 px (tests, CI, demo) instead of all pairs at 64 and 128 px' })
      .option('out', { type: 'string', describe: 'output folder (default: the cache, where loadDataset("builtin") looks)' })
      .option('seed', { type: 'number', default: 0, describe: 'seed of the concept split and of subsampling' })
      .option('strict', { type: 'boolean', default: false, describe: 'stop at the first picture that cannot be decoded' }),
  handler: async (args: BuildArgs) => {
    const preset = args.small ? PRESETS.small : PRESETS.full;
    const out = path.resolve(args.out ?? builtinDir(args.small));
    console.error(`coca data build: ${preset.name} (${preset.sizes.join(', ')} px) → ${out}`);
    const bar = progressBar();
    const { manifest } = await buildBuiltin({ preset, out, seed: args.seed, strict: args.strict, log: (l) => console.error(`  ${l}`), progress: bar.update }).finally(bar.stop);
    for (const [split, info] of Object.entries(manifest.splits)) console.log(`${split.padEnd(13)} ${String(info.count).padStart(6)}  ${info.about}`);
    console.log(`built in ${manifest.build.seconds} s, ${(manifest.build.bytes / 2 ** 20).toFixed(1)} MiB, vocabulary ${manifest.tokenizer.vocabSize}, skipped ${manifest.build.skipped}`);
  },
};

export const dataCommand = {
  command: 'data <command>',
  describe: 'Build, inspect and summarise image–text datasets',
  builder: (y: Argv) => y.command(buildCommand).demandCommand(1, 'Name a data command: build, info or stats.'),
  handler: () => {},
};
