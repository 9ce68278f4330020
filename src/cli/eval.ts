// `coca eval`: retrieval, captioning and zero-shot metrics of a checkpoint, beside chance and the
// nearest-neighbour caption baseline, as a table and as JSON.
import fs from 'node:fs';
import path from 'node:path';
import type { Argv } from 'yargs';
import { listSplits, loadDataset, loadTokenizer } from '../data/index.ts';
import { renderReport, type EvalSection } from '../eval/report.ts';
import { embedImages, evalLanguages, evalSplit, evalZeroShot, type EvalContext, type TrainCaptions } from '../eval/run.ts';
import { Gpu } from '../gpu/gpu.ts';
import { InferError, resolveCheckpointDir } from '../infer/load.ts';
import { checkRerank, type RerankOptions } from '../infer/rerank.ts';
import { checkSearch, MAX_BEAMS, type CheckedSearch } from '../infer/search.ts';
import { RERANK_FLAGS, RERANK_OPTIONS, SEARCH_FLAGS } from './caption.ts';
import { checkOutputFile, checkOutputFolder, claimOutputFolder } from '../util/outdir.ts';
import { writeCaptionSheet } from '../eval/sheet.ts';
import { asInput } from './data.ts';
import { checkInt } from './numbers.ts';
import { checkTokenizerFits, loadCheckpoint, readCheckpointTokenizer } from '../model/checkpoint.ts';
import { checkpointPreprocess } from '../model/preprocess.ts';
import { checkpointArch } from '../model/arch.ts';
import { evalLstmCommand } from './eval-lstm.ts';
import { evalDeviseCommand } from './eval-devise.ts';

interface EvalArgs {
  checkpoint?: string;
  data: string;
  split?: string;
  json?: string;
  captions?: string;
  'max-items'?: number;
  batch: number;
  'max-len': number;
  beams?: number;
  rerank?: boolean;
  'rerank-weight'?: number;
  baselines: boolean;
  strict: boolean;
}

export const evalCommand = {
  command: 'eval [checkpoint]',
  describe: 'Evaluate a checkpoint: retrieval R@1/5/10, BLEU-1..4, CIDEr-D, zero-shot top-1/top-5, with baselines (and per caption language, for a multilingual model on a dataset with translations); a showtell, sat or prefix checkpoint gets BLEU and CIDEr-D, a devise one its zero-shot flat hit@1/5 and coverage',
  builder: (y: Argv) =>
    y
      .positional('checkpoint', { type: 'string', describe: 'checkpoint or run folder; the built-in model is never taken by default here (evaluate it with coca eval models/builtin --data builtin) [default: the newest under runs/]' })
      .option('data', { type: 'string', default: 'builtin-small', describe: 'dataset to evaluate on (anything --data takes, WebDataset shards included: docs/webdataset.md)' })
      .option('split', { type: 'string', describe: 'comma list of splits [default: test-concept,test-style,test-fmnist for the built-in sets, else test or val]' })
      .option('json', { type: 'string', describe: 'also write the results to this JSON file' })
      .option('captions', { type: 'string', describe: "also write each picture's generated caption beside its references into this folder: captions.json and captions.html (a sheet with thumbnails)" })
      .option('max-items', { type: 'number', describe: 'evaluate at most this many images per split' })
      .option('batch', { type: 'number', default: 64, describe: 'images per GPU pass' })
      .option('max-len', { type: 'number', default: 20, describe: 'longest generated caption, in tokens' })
      .option('beams', { type: 'number', describe: `beam width of the captions, 1 to ${MAX_BEAMS}; 1 = greedy [default: 1]` })
      .options(RERANK_OPTIONS)
      .option('baselines', { type: 'boolean', default: true, describe: 'compute the nearest-neighbour caption baseline (embeds the training images) and captioning\'s chance row (a random training caption per picture, mean of 5 draws); --no-baselines skips both' })
      .option('strict', { type: 'boolean', default: false, describe: 'stop at the first picture that cannot be decoded (otherwise such pictures are left out, counted and named)' }),
  handler: async (a: EvalArgs) => {
    // Captions by the captioner of `coca caption`, greedy unless told, with its other defaults.
    const checked = checkSearch({ beams: a.beams ?? 1, maxLen: a['max-len'] }, { name: (k) => SEARCH_FLAGS[k] });
    const rerank = checkRerank({ rerank: a.rerank, rerankWeight: a['rerank-weight'] }, checked, (k) => RERANK_FLAGS[k]);
    const search: CheckedSearch & { rerank?: RerankOptions } = rerank ? { ...checked, rerank } : checked;
    checkInt('max-items', a['max-items'], 1);
    checkInt('batch', a.batch, 1);
    // The built-in model is not a default here: it was trained on the full built-in set, whose
    // concept split is not builtin-small's (the default --data), so its figures need a stated --data.
    const dir = resolveCheckpointDir(a.checkpoint, { builtin: false });
    if (a.json) checkOutputFile(a.json, { option: '--json', inputs: [dir, asInput(a.data)] });
    if (a.captions) checkOutputFolder(a.captions, 'coca eval --captions', { option: '--captions', inputs: [dir, asInput(a.data), a.json] });
    const arch = checkpointArch(dir);
    if (rerank && arch !== 'coca') throw new InferError(`--rerank: ${dir} holds a ${arch} model, which ${arch === 'devise' ? 'does not caption' : 'has no text tower to measure image–text similarity with'}; drop --rerank (coca models have one)`);
    if (arch === 'showtell' || arch === 'sat' || arch === 'prefix') return evalLstmCommand(dir, a, search);
    if (arch === 'devise') return evalDeviseCommand(dir, a);
    const gpu = await Gpu.open();
    try {
      const model = loadCheckpoint(gpu, dir);
      let tokenizer = readCheckpointTokenizer(dir, model.config);
      if (!tokenizer) {
        tokenizer = loadTokenizer(a.data);
        checkTokenizerFits(tokenizer, model.config, `the tokenizer of ${a.data}`);
      }
      const pre = checkpointPreprocess(dir, model.config);
      const ctx: EvalContext = { model, tokenizer, pre, strict: a.strict, batch: a.batch, maxItems: a['max-items'], search, log: (l) => console.error(l), captions: a.captions ? [] : undefined };
      const available = listSplits(a.data);
      const wanted = a.split?.split(',').map((s) => s.trim()) ?? ['test-concept', 'test-style', 'test-fmnist', 'test', 'val'].filter((s) => available.includes(s)).slice(0, 3);
      console.error(`coca eval: ${dir} on ${a.data} (${wanted.join(', ')}); captions by ${captioning(search)}`);
      let train: TrainCaptions | null = null;
      if (a.baselines && available.includes('train')) {
        const t0 = performance.now();
        const ds = await loadDataset(a.data, { split: 'train', imageSize: pre.size, strict: a.strict });
        const e = await embedImages(ctx, ds);
        const byLang = Object.fromEntries(evalLanguages(ds, tokenizer).map((l) => [l, e.indices.map((i) => ds.captionsIn!(i, l)[0])]));
        train = { emb: e.emb, captions: e.indices.map((i) => ds.captions(i)[0]!), byLang };
        console.error(`  train: embedded ${e.n} images for the nearest-neighbour baseline (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
      }
      const sections: EvalSection[] = [];
      let told = false;
      for (const split of wanted) {
        const ds = await loadDataset(a.data, { split, imageSize: pre.size, strict: a.strict });
        if (ds.classes?.length) sections.push(await evalZeroShot(ctx, a.data, split));
        else sections.push(...(await evalSplit(ctx, a.data, split, train)));
        // A multilingual model on a set built before languages: say why there are no language sections.
        if (!told && !ds.classes?.length && tokenizer.languages.length > 1 && evalLanguages(ds, tokenizer).length === 0) {
          console.error(`  ${a.data} ${split} has no captions in ${tokenizer.languages.filter((l) => l !== 'en').join(', ')} (the model's other languages), so only English is scored; 'coca data build' makes them`);
          told = true;
        }
      }
      const { text, json } = renderReport(sections);
      console.log(text);
      if (a.json) {
        fs.mkdirSync(path.dirname(a.json), { recursive: true });
        const how = { beams: search.beams, maxLen: search.maxLen, ...(search.rerank ? { rerankWeight: search.rerank.weight } : {}) };
        fs.writeFileSync(a.json, JSON.stringify({ checkpoint: dir, data: a.data, captioning: how, ...json }, null, 2) + '\n');
        console.error(`wrote ${a.json}`);
      }
      if (a.captions && ctx.captions) {
        const out = claimOutputFolder(a.captions, 'coca eval --captions', { option: '--captions', inputs: [dir, asInput(a.data), a.json] });
        await writeCaptionSheet(out, `coca eval: ${dir} on ${a.data}`, ctx.captions, a.data);
        console.error(`wrote ${path.join(a.captions, 'captions.html')} and captions.json (${ctx.captions.length} pictures)`);
      }
      model.params.release();
    } finally {
      gpu.destroy();
    }
  },
};

/** How the captions were made, for the log: a run with and without --rerank must not read alike. */
function captioning(s: { beams: number; rerank?: { weight: number } }): string {
  if (s.beams === 1) return 'greedy decoding';
  return `beam search (${s.beams} beams)${s.rerank ? `, re-ranked by image–text similarity (α = ${s.rerank.weight})` : ''}`;
}
