// What `coca retrieve --text` and `coca serve` search when they run on the built-in model and no
// index was made: the test pictures of the built-in data (test-concept: concepts held out of
// training; test-style: the Fluent 3-D art, a style never trained on), embedded once on first use
// and kept in the cache beside the data (keyed by the weights' id, so a new built-in model gets
// a new index). The full built-in set is used when it is built (its pictures are stored at the
// model's 64 px), else the small one that set-up builds.
import fs from 'node:fs';
import path from 'node:path';
import { builtinDir, cacheRoot } from '../data/paths.ts';
import { InferError, type OpenCheckpoint } from './load.ts';
import { buildIndex, loadIndex, type BuildOptions, type RetrievalIndex } from './retrieval.ts';

export const BUILTIN_INDEX_SPLITS = ['test-concept', 'test-style'] as const;

/** The built-in data set to index: the full one when built, else the small one; one line when neither is. */
export function builtinIndexData(): 'builtin' | 'builtin-small' {
  for (const name of ['builtin', 'builtin-small'] as const) if (fs.existsSync(path.join(builtinDir(name === 'builtin-small'), 'manifest.json'))) return name;
  throw new InferError(`no index given and the built-in data is not built, so there are no test pictures to search; run 'coca data build --small' (about a minute, once; scripts/setup.sh does it), or make an index of your pictures with 'coca index build DIR'`);
}

/** Where the index of the built-in test pictures for checkpoint `id` is kept. */
export function builtinIndexDir(id: string, data: string): string {
  return path.join(cacheRoot(), 'indexes', `builtin-model-${id}-${data}`);
}

/**
 * The index of the built-in test pictures made with `ck`'s weights: read from the cache, or built
 * there now (with `progress`), saying which in a line to `log`.
 */
export async function builtinTestIndex(ck: OpenCheckpoint, o: { log: (line: string) => void; progress?: BuildOptions['progress']; batch?: number }): Promise<RetrievalIndex> {
  const data = builtinIndexData();
  const dir = builtinIndexDir(ck.id, data);
  const what = `${data} ${BUILTIN_INDEX_SPLITS.join(' + ')}`;
  if (fs.existsSync(path.join(dir, 'items.json'))) {
    try {
      const ix = loadIndex(dir, ck.id);
      o.log(`searching the ${ix.items.length} test pictures of ${what} (index cached in ${dir})`);
      return ix;
    } catch (e) {
      o.log(`the cached index ${dir} cannot be read (${(e as Error).message.split('\n')[0]}); building it again`);
    }
  }
  o.log(`no index given: embedding the test pictures of ${what} with the built-in model, once (cached in ${dir})`);
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  const ix = await buildIndex(ck, dir, { data, splits: BUILTIN_INDEX_SPLITS, batch: o.batch ?? 32, progress: o.progress });
  o.log(`indexed ${ix.items.length} pictures (${ix.source}) into ${dir}`);
  return ix;
}
