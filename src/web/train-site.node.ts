// The train-in-a-tab page's folder (`npm run build:web` writes it to dist/web/train/): index.html
// (train.html) and train.js (the bundle of src/web/train.ts), shaders/, the nano config with the
// built set's vocabulary and preprocessing (what `coca train --data data` would make of it),
// the set's tokenizer.json, and data/: a subset of the built-in data (data/subset.ts), small
// enough to ship with a page. Any static server will do; WebGPU needs https or localhost.
import fs from 'node:fs';
import path from 'node:path';
import { defaultPreprocess } from '../data/preprocess.ts';
import { measuredStats } from '../data/load.ts';
import { loadTokenizer } from '../data/load.ts';
import { writeSubset } from '../data/subset.ts';
import { loadConfig } from '../model/config.ts';
import { withPreprocess, withVocabSize } from '../model/config-schema.ts';
import { buildWeb, ROOT } from './bundle.node.ts';

/** Pairs shipped by default: 512 pictures of 32×32 (1.5 MiB), enough for nano to learn words from. */
export const TRAIN_SITE_PAIRS = 512;

export interface TrainSite {
  /** Bytes: the bundle, the shaders, the data subset, the config and tokenizer, all of it. */
  bundle: number;
  shaders: number;
  data: number;
  model: number;
  total: number;
  pairs: number;
}

export interface TrainSiteOptions {
  /** The built set the pairs come from (default builtin-small). */
  from?: string;
  pairs?: number;
  preset?: string;
  minify?: boolean;
}

export async function writeTrainSite(out: string, o: TrainSiteOptions = {}): Promise<TrainSite> {
  const from = o.from ?? 'builtin-small';
  const tok = loadTokenizer(from);
  fs.mkdirSync(out, { recursive: true });
  fs.rmSync(path.join(out, 'data'), { recursive: true, force: true });
  const subset = writeSubset(from, path.join(out, 'data'), o.pairs ?? TRAIN_SITE_PAIRS);
  const base = withVocabSize(loadConfig(o.preset ?? 'nano'), tok.vocabSize);
  const config = withPreprocess(base, defaultPreprocess(base.vision_cfg.image_size, measuredStats(subset.dir)));
  fs.writeFileSync(path.join(out, 'config.json'), JSON.stringify(config, null, 2) + '\n');
  fs.copyFileSync(path.join(subset.dir, 'tokenizer.json'), path.join(out, 'tokenizer.json'));
  const b = await buildWeb({ entries: ['src/web/train.ts'], outdir: out, minify: o.minify });
  fs.copyFileSync(path.join(ROOT, 'src', 'web', 'train.html'), path.join(out, 'index.html'));
  const size = (f: string) => fs.statSync(path.join(out, f)).size;
  const bundle = Object.values(b.modules).reduce((a, n) => a + n, 0);
  const model = size('config.json') + size('tokenizer.json');
  return { bundle, shaders: b.shaderBytes, data: subset.bytes, model, total: bundle + b.shaderBytes + subset.bytes + model + size('index.html'), pairs: subset.pairs };
}
