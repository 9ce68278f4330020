// `coca index build DIR | --data PATH`: image embeddings computed once for `coca retrieve`.
import type { Argv } from 'yargs';
import { Gpu } from '../gpu/gpu.ts';
import { resolveDataPath } from '../data/load.ts';
import { InferError, openCheckpoint, resolveCheckpointDir } from '../infer/load.ts';
import { buildIndex, checkIndexFolder } from '../infer/retrieval.ts';
import { createProgress, type Progress } from '../util/progress.ts';

interface IndexBuildArgs {
  dir?: string;
  data?: string;
  split: string;
  checkpoint?: string;
  out: string;
  batch: number;
}

const buildCommand = {
  command: 'build [dir]',
  describe: 'Embed every picture of a folder (or a dataset split) into a retrieval index',
  builder: (y: Argv) =>
    y
      .positional('dir', { type: 'string', describe: 'folder of pictures (searched recursively)' })
      .option('data', { type: 'string', describe: 'a dataset instead: builtin-small, builtin, your folder/file, or WebDataset shards' })
      .option('split', { type: 'string', default: 'test', describe: 'the dataset split to index (with --data)' })
      .option('checkpoint', { type: 'string', describe: 'checkpoint or run folder [default: the newest under runs/, else the built-in model (models/builtin)]' })
      .option('out', { type: 'string', default: 'index', describe: 'index folder to write' })
      .option('batch', { type: 'number', default: 32, describe: 'images per GPU pass' })
      .example('$0 index build photos/ --out index/', 'index a folder of pictures')
      .example('$0 index build --data builtin-small --split test-concept', 'index a dataset split (its captions are kept)'),
  handler: async (a: IndexBuildArgs) => {
    if (!a.dir === !a.data) throw new InferError('give a folder of pictures or --data PATH (one of them)');
    if (!Number.isInteger(a.batch) || a.batch < 1) throw new InferError(`--batch must be a positive integer, got ${a.batch}`);
    checkIndexFolder(a.out, [a.dir, a.data && resolveDataPath(a.data), resolveCheckpointDir(a.checkpoint)]);
    const gpu = await Gpu.open();
    const ck = openCheckpoint(gpu, a.checkpoint);
    try {
      const t0 = performance.now();
      // A bar on a terminal; in a log a line every few percent, not one endless \r-joined line.
      let bar: Progress | null = null;
      const progress = (done: number, total: number) => (bar ??= createProgress({ label: 'index', total, fields: [] })).update(done, {});
      const ix = await buildIndex(ck, a.out, { folder: a.dir, data: a.data, split: a.split, batch: a.batch, progress });
      (bar as Progress | null)?.stop();
      console.log(`index ${a.out}: ${ix.items.length} images of ${ix.source}, ${ix.E}-d, checkpoint ${ck.dir} (id ${ck.id}), ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    } finally {
      ck.release();
      gpu.destroy();
    }
  },
};

export const indexCommand = {
  command: 'index <command>',
  describe: 'Build retrieval indexes (image embeddings) for coca retrieve',
  builder: (y: Argv) => y.command(buildCommand).demandCommand(1, 'Name an index command: build'),
  handler: () => {},
};
