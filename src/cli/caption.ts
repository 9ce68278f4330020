// `coca caption IMAGE...`: captions by beam search (default), greedy (--beams 1) or sampling,
// decoded with the KV cache; --json adds per-token log-probs, --attention draws where the model
// looked for each word.
import type { Argv } from 'yargs';
import { Gpu } from '../gpu/gpu.ts';
import { drawAttention } from '../infer/attention-map.ts';
import { captionImages } from '../infer/caption.ts';
import { InferError, openCheckpoint, resolveCheckpointDir } from '../infer/load.ts';
import { checkOutputFile } from '../util/outdir.ts';
import { checkpointArch } from '../model/arch.ts';
import { captionFiles } from './caption-files.ts';
import { captionLstmCommand, checkLstmCaption } from './caption-lstm.ts';
import { checkInt } from './numbers.ts';
import { checkSearch, DEFAULT_SEARCH, MAX_BEAMS, type CheckedSearch, type SearchRequest } from '../infer/search.ts';
import { checkRerank, DEFAULT_RERANK_WEIGHT, type RerankOptions, type RerankRequest } from '../infer/rerank.ts';

interface CaptionArgs {
  images?: string[];
  checkpoint?: string;
  beams?: number;
  'max-len'?: number;
  'min-len'?: number;
  'length-penalty'?: number;
  'repetition-penalty'?: number;
  sample: boolean;
  'top-k'?: number;
  'top-p'?: number;
  temperature?: number;
  seed?: number;
  batch: number;
  json: boolean;
  attention?: string;
  lang?: string;
  'allow-sot': boolean;
  rerank?: boolean;
  'rerank-weight'?: number;
}

/** The flag of each search option, as checkSearch's messages name it (coca caption and coca eval). */
export const SEARCH_FLAGS: Record<keyof SearchRequest, string> = {
  beams: '--beams',
  maxLen: '--max-len',
  minLen: '--min-len',
  lengthPenalty: '--length-penalty',
  repetitionPenalty: '--repetition-penalty',
  sample: '--sample',
  topK: '--top-k',
  topP: '--top-p',
  temperature: '--temperature',
  seed: '--seed',
  allowSot: '--allow-sot',
};

/** The flags of re-ranking, as checkRerank's messages name them (coca caption and coca eval). */
export const RERANK_FLAGS: Record<keyof RerankRequest | 'beams', string> = { rerank: '--rerank', rerankWeight: '--rerank-weight', beams: '--beams' };

/** The yargs options of re-ranking (coca caption and coca eval). */
export const RERANK_OPTIONS = {
  rerank: { type: 'boolean', default: false, describe: "choose among the beams' finished captions by the model's image–text similarity (CoCa models; needs --beams 2 or more)" },
  'rerank-weight': { type: 'number', describe: `α in score = α·similarity + (1 − α)·beam score (the length-normalised log-prob), from 0 to 1 [default: ${DEFAULT_RERANK_WEIGHT}]` },
} as const;

/** The search the options ask for, checked: one line per mistake. */
export function searchOptions(a: CaptionArgs): CheckedSearch & { rerank?: RerankOptions } {
  const search = checkSearch(
    {
      beams: a.beams,
      maxLen: a['max-len'],
      minLen: a['min-len'],
      lengthPenalty: a['length-penalty'],
      repetitionPenalty: a['repetition-penalty'],
      sample: a.sample,
      topK: a['top-k'],
      topP: a['top-p'],
      temperature: a.temperature,
      seed: a.seed,
      allowSot: a['allow-sot'],
    },
    { name: (k) => SEARCH_FLAGS[k] },
  );
  if (!(Number.isInteger(a.batch) && a.batch >= 1)) throw new InferError(`--batch must be an integer ≥ 1, got ${a.batch}`);
  const rerank = checkRerank({ rerank: a.rerank, rerankWeight: a['rerank-weight'] }, search, (k) => RERANK_FLAGS[k]);
  return rerank ? { ...search, rerank } : search;
}

const D = DEFAULT_SEARCH;

export const captionCommand = {
  command: 'caption <images..>',
  describe: 'Caption images with a trained checkpoint of any captioning architecture: coca, showtell, sat (beam search, greedy or sampling)',
  builder: (y: Argv) =>
    y
      .positional('images', { type: 'string', array: true, describe: 'image files (JPEG, PNG, WebP, GIF, AVIF, SVG, TIFF)' })
      .option('checkpoint', { type: 'string', describe: 'checkpoint or run folder [default: the newest under runs/, else the built-in model (models/builtin)]' })
      .option('beams', { type: 'number', describe: `beam width, 1 to ${MAX_BEAMS}; 1 = greedy [default: ${D.beams}]` })
      .option('max-len', { type: 'number', describe: `most tokens per caption, [SOT] and [EOT] included (capped at the context length) [default: ${D.maxLen}]` })
      .option('min-len', { type: 'number', describe: `[EOT] is forbidden until this many tokens are generated [default: ${D.minLen}]` })
      .option('length-penalty', { type: 'number', describe: `beam score = Σ log-prob / length^α; α = 0 favours short captions [default: ${D.lengthPenalty}]` })
      .option('repetition-penalty', { type: 'number', describe: `θ > 1 discourages tokens already generated (CTRL); 1 = off [default: ${D.repetitionPenalty}]` })
      .option('sample', { type: 'boolean', default: false, describe: 'sample instead of searching (implied by --top-k, --top-p, --temperature)' })
      .option('top-k', { type: 'number', describe: 'sample from the k most likely tokens (0 = all)' })
      .option('top-p', { type: 'number', describe: 'sample from the smallest set of tokens holding this much probability' })
      .option('temperature', { type: 'number', describe: `sampling temperature [default: ${D.temperature}]` })
      .option('seed', { type: 'number', describe: `sampling seed; each picture draws from its own generator, so its caption does not depend on the others [default: ${D.seed}]` })
      .option('allow-sot', { type: 'boolean', default: false, describe: "let the search choose [SOT] as open_clip's generate does (token-for-token parity with it; a trained model gives [SOT] next to no probability)" })
      .option('batch', { type: 'number', default: 8, describe: 'images per GPU pass' })
      .option('json', { type: 'boolean', default: false, describe: 'print JSON with per-token log-probs' })
      .option('attention', { type: 'string', describe: 'write a PNG: for each word, where on the image the decoder looked (coca and sat models)' })
      .option('lang', { type: 'string', describe: 'caption language of a multilingual model (en, ru, zh, ms: its language token follows [SOT]); a model without language tokens takes only en [default: en]' })
      .options(RERANK_OPTIONS)
      .example('$0 caption photo.jpg', 'beam search with the newest checkpoint under runs/ (the built-in model when there is none)')
      .example('$0 caption a.png b.jpg --beams 1 --json', 'greedy, with per-token log-probs')
      .example('$0 caption cat.png --top-p 0.9 --temperature 0.8 --seed 3', 'nucleus sampling')
      .example('$0 caption dog.jpg --attention dog-attention.png', 'where the model looked, word by word')
      .example('$0 caption dog.jpg --beams 4 --rerank', "of 4 beams' captions, the one closest to the picture by the model's own similarity")
      .example('$0 caption photo.jpg --checkpoint laion-coca --min-len 4 --allow-sot', "open_clip's generate() defaults on an imported checkpoint (README: open_clip)")
      .example('$0 caption dog.png --lang ru', 'a Russian caption (a model trained on a set with languages)'),
  handler: async (args: CaptionArgs) => {
    const opts = searchOptions(args);
    checkInt('seed', args.seed, 0);
    const files = args.images ?? [];
    if (args.attention) checkOutputFile(args.attention, { option: '--attention', inputs: [...files, resolveCheckpointDir(args.checkpoint)] });
    const dir = resolveCheckpointDir(args.checkpoint);
    const arch = checkpointArch(dir);
    if (arch === 'devise') throw new InferError(`${dir} holds a devise model, which ranks labels and does not caption; rank labels with coca classify IMAGE --labels "a,b" --checkpoint ${dir}, or caption with a coca, showtell, sat or prefix checkpoint`);
    if (arch === 'showtell' || arch === 'sat' || arch === 'prefix') {
      if (opts.rerank) throw new InferError(`--rerank: ${dir} holds a ${arch} model, which has no text tower to measure image–text similarity with; drop --rerank (coca models have one)`);
      checkLstmCaption(dir, arch, args);
      return captionLstmCommand(dir, files, args, opts);
    }
    const gpu = await Gpu.open();
    const ck = openCheckpoint(gpu, args.checkpoint);
    try {
      const results = await captionFiles(files, args, opts, ck.pre, ck.tokenizer, (images, n, o) => captionImages(ck.model, images, n, o), { checkpoint: ck.dir });
      if (args.attention && results.length > 0) {
        await drawAttention(ck, results, args.attention);
        if (!args.json) console.log(`attention maps: ${args.attention}`);
      }
    } finally {
      ck.release();
      gpu.destroy();
    }
  },
};
