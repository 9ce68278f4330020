// The preprocessing a checkpoint was trained with. New checkpoints carry it in config.json
// (vision_cfg.image_*). Checkpoints written before that kept it beside them: the run's state.json
// (mean/std) and run.json (the dataset, whose manifest held the statistics and whose kind chose
// the resize mode). Such a checkpoint gets it filled in once from its run folder, with a one-line
// notice, and recorded in its config.json, so that copied elsewhere it prepares pictures the same.
import fs from 'node:fs';
import path from 'node:path';
import type { Triple } from '../data/augment.ts';
import { isBuiltDataset, resolveDataPath } from '../data/load.ts';
import { defaultPreprocess, describePreprocess, type ImagePreprocess } from '../data/preprocess.ts';
import { readManifest } from '../data/store.ts';
import { MANIFEST } from './checkpoint-folder.ts';
import { preprocessOf, withPreprocess, type CocaConfig } from './config.ts';
import { writeFileAtomic } from '../util/atomic.ts';

function readJson(file: string): Record<string, unknown> | null {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch {
    return null;
  }
}

/** What the run folder around an old checkpoint says, and which files said it; null if nothing. */
function fromRunFolder(dir: string, size: number): { pre: ImagePreprocess; from: string[] } | null {
  const from: string[] = [];
  let measured: { mean: Triple; std: Triple } | undefined;
  let builtin = false;
  for (const run of [path.join(dir, 'run.json'), path.join(dir, '..', '..', 'run.json')]) {
    const data = readJson(run)?.['data'];
    if (typeof data !== 'string') continue;
    from.push(path.normalize(run));
    builtin = data === 'builtin' || data === 'builtin-small';
    try {
      const p = resolveDataPath(data);
      if (isBuiltDataset(p)) {
        const m = readManifest(p);
        measured = { mean: m.mean, std: m.std };
        builtin = true;
      }
    } catch {
      // The dataset moved or was never built here: state.json still has the statistics.
    }
    break;
  }
  const rec = readJson(path.join(dir, 'state.json'))?.['preprocess'] as { mean?: Triple; std?: Triple } | undefined;
  if (rec?.mean?.length === 3 && rec.std?.length === 3) {
    measured = { mean: rec.mean, std: rec.std };
    from.unshift(path.join(dir, 'state.json'));
  }
  if (from.length === 0) return null;
  // Before, built-in runs were fed whole pictures on white and others a centre crop, with the
  // run's statistics (or CLIP's for users' data), as a new run's defaults are now.
  const pre: ImagePreprocess = { ...defaultPreprocess(size), resizeMode: builtin ? 'longest' : 'shortest', ...(measured ?? {}) };
  return { pre, from };
}

/**
 * The preprocessing of the checkpoint in `dir` whose config.json parsed to `config`: the recorded
 * one, or for an old checkpoint the one its run folder says (recorded into config.json then, so
 * only the first use tells), or, with nothing to go by, open_clip's defaults with a warning.
 */
export function checkpointPreprocess(dir: string, config: CocaConfig, notify: (line: string) => void = (l) => console.error(l)): ImagePreprocess {
  const recorded = preprocessOf(config);
  if (recorded) return recorded;
  const size = config.vision_cfg.image_size;
  const found = fromRunFolder(dir, size);
  if (!found) {
    const pre = defaultPreprocess(size);
    notify(`coca: warning: ${dir} records no image preprocessing and has no run folder around it to take it from; assuming ${describePreprocess(pre)} (put it back in its run folder once, or add vision_cfg.image_mean/image_std/image_resize_mode to its config.json)`);
    return pre;
  }
  const file = path.join(dir, 'config.json');
  let where = `recorded it in ${file}`;
  if (fs.existsSync(path.join(dir, MANIFEST))) {
    // The folder's manifest fixes its files' checksums: editing config.json would break it.
    where = `left ${file} as its manifest fixes it, so it is taken from there each time`;
  } else try {
    writeFileAtomic(file, JSON.stringify(withPreprocess(config, found.pre), null, 2) + '\n');
  } catch (e) {
    where = `could not record it in ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}), so it is taken from there each time`;
  }
  notify(`coca: note: ${dir} predates recorded preprocessing; took it from ${found.from.join(' and ')} (${describePreprocess(found.pre)}) and ${where}`);
  return found.pre;
}
