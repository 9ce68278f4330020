// `coca caption IMAGE...`: captions by beam search (default), greedy (--beams 1) or sampling,
// decoded with the KV cache; --json adds per-token log-probs, --attention draws where the model
// looked for each word.
import type { Argv } from 'yargs';
import { Gpu } from '../gpu/gpu.ts';
import { drawAttention } from '../infer/attention-map.ts';
import { captionImages } from '../infer/caption.ts';
import { InferError, loadImageFiles, openCheckpoint } from '../infer/load.ts';
import type { Caption, SearchOptions } from '../infer/search.ts';

interface CaptionArgs {
  images?: string[];
  checkpoint?: string;
  beams?: number;
  'max-len': number;
  'min-len': number;
  'length-penalty': number;
  'repetition-penalty': number;
  sample: boolean;
  'top-k'?: number;
  'top-p'?: number;
  temperature?: number;
  seed: number;
  batch: number;
  json: boolean;
  attention?: string;
}

const check = (ok: boolean, msg: string) => {
  if (!ok) throw new InferError(msg);
};

/** The search the options ask for, checked: one line per mistake. */
export function searchOptions(a: CaptionArgs): SearchOptions {
  const int = (name: string, v: number | undefined, min: number) => check(v === undefined || (Number.isInteger(v) && v >= min), `--${name} must be an integer ≥ ${min}, got ${v}`);
  int('beams', a.beams, 1);
  int('max-len', a['max-len'], 2);
  int('min-len', a['min-len'], 0);
  int('top-k', a['top-k'], 0);
  int('batch', a.batch, 1);
  check(a['min-len'] < a['max-len'] - 1, `--min-len ${a['min-len']} leaves no room under --max-len ${a['max-len']} (which counts [SOT] and [EOT])`);
  check(a['repetition-penalty'] > 0, `--repetition-penalty must be > 0 (1 = off), got ${a['repetition-penalty']}`);
  check(Number.isFinite(a['length-penalty']), `--length-penalty must be a number, got ${a['length-penalty']}`);
  check(a['top-p'] === undefined || (a['top-p'] > 0 && a['top-p'] <= 1), `--top-p must be in (0, 1], got ${a['top-p']}`);
  check(a.temperature === undefined || a.temperature > 0, `--temperature must be > 0, got ${a.temperature}`);
  const sampling = a.sample || a['top-k'] !== undefined || a['top-p'] !== undefined || a.temperature !== undefined;
  check(!(sampling && a.beams !== undefined && a.beams > 1), 'sampling draws one caption per image: leave out --beams, or drop --sample/--top-k/--top-p/--temperature to search');
  return {
    maxLen: a['max-len'],
    minLen: a['min-len'],
    beams: sampling ? 1 : (a.beams ?? 6),
    lengthPenalty: a['length-penalty'],
    repetitionPenalty: a['repetition-penalty'],
    ...(sampling ? { sample: { temperature: a.temperature ?? 1, topK: a['top-k'] ?? 0, topP: a['top-p'] ?? 1, seed: a.seed } } : {}),
  };
}

export const captionCommand = {
  command: 'caption <images..>',
  describe: 'Caption images with a trained checkpoint (beam search, greedy or sampling)',
  builder: (y: Argv) =>
    y
      .positional('images', { type: 'string', array: true, describe: 'image files (JPEG, PNG, WebP, GIF, AVIF, SVG, TIFF)' })
      .option('checkpoint', { type: 'string', describe: 'checkpoint or run folder [default: the newest under runs/]' })
      .option('beams', { type: 'number', describe: 'beam width; 1 = greedy [default: 6]' })
      .option('max-len', { type: 'number', default: 30, describe: 'most tokens per caption, [SOT] and [EOT] included (capped at the context length)' })
      .option('min-len', { type: 'number', default: 0, describe: '[EOT] is forbidden until this many tokens are generated' })
      .option('length-penalty', { type: 'number', default: 1, describe: 'beam score = Σ log-prob / length^α; α = 0 favours short captions' })
      .option('repetition-penalty', { type: 'number', default: 1, describe: 'θ > 1 discourages tokens already generated (CTRL); 1 = off' })
      .option('sample', { type: 'boolean', default: false, describe: 'sample instead of searching (implied by --top-k, --top-p, --temperature)' })
      .option('top-k', { type: 'number', describe: 'sample from the k most likely tokens (0 = all)' })
      .option('top-p', { type: 'number', describe: 'sample from the smallest set of tokens holding this much probability' })
      .option('temperature', { type: 'number', describe: 'sampling temperature [default: 1]' })
      .option('seed', { type: 'number', default: 0, describe: 'sampling seed' })
      .option('batch', { type: 'number', default: 8, describe: 'images per GPU pass' })
      .option('json', { type: 'boolean', default: false, describe: 'print JSON with per-token log-probs' })
      .option('attention', { type: 'string', describe: 'write a PNG: for each word, where on the image the decoder looked' })
      .example('$0 caption photo.jpg', 'beam search with the newest checkpoint under runs/')
      .example('$0 caption a.png b.jpg --beams 1 --json', 'greedy, with per-token log-probs')
      .example('$0 caption cat.png --top-p 0.9 --temperature 0.8 --seed 3', 'nucleus sampling')
      .example('$0 caption dog.jpg --attention dog-attention.png', 'where the model looked, word by word'),
  handler: async (args: CaptionArgs) => {
    const opts = searchOptions(args);
    const files = args.images ?? [];
    const gpu = await Gpu.open();
    const ck = openCheckpoint(gpu, args.checkpoint);
    try {
      const results: { image: string; caption: Caption }[] = [];
      for (let i = 0; i < files.length; i += args.batch) {
        const part = files.slice(i, i + args.batch);
        const images = await loadImageFiles(part, ck.pre);
        const caps = await captionImages(ck.model, images, part.length, { ...opts, recordAttention: !!args.attention });
        caps.forEach((c, j) => results.push({ image: part[j]!, caption: c }));
        if (!args.json) for (const [j, c] of caps.entries()) console.log(`${part[j]}\t${ck.tokenizer.decode(c.tokens)}\t(score ${c.score.toFixed(3)})`);
      }
      if (args.json) {
        const search = opts.sample ? { mode: 'sample', ...opts.sample } : { mode: opts.beams === 1 ? 'greedy' : 'beam', beams: opts.beams, lengthPenalty: opts.lengthPenalty };
        const out = results.map(({ image, caption: c }) => ({
          image,
          caption: ck.tokenizer.decode(c.tokens),
          score: c.score,
          tokens: c.tokens.slice(1).map((id, k) => ({ id, text: id === 2 ? '[EOT]' : ck.tokenizer.decode([id]), logprob: c.logprobs[k] })),
        }));
        console.log(JSON.stringify({ checkpoint: ck.dir, search, minLen: opts.minLen, maxLen: opts.maxLen, repetitionPenalty: opts.repetitionPenalty, captions: out }, null, 2));
      }
      if (args.attention) {
        await drawAttention(ck, results, args.attention);
        if (!args.json) console.log(`attention maps: ${args.attention}`);
      }
    } finally {
      ck.release();
      gpu.destroy();
    }
  },
};
