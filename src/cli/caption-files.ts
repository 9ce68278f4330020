// What `coca caption` does with its picture files whatever the architecture: read them a batch at
// a time (a picture that cannot be read is named in one line, the others still captioned), caption
// each batch with the model's own search, print a line per picture or the JSON of all of them.
import type { ImagePreprocess, Tokenizer } from '../data/index.ts';
import type { CaptionOptions } from '../infer/caption.ts';
import { loadReadableImages } from '../infer/load.ts';
import type { Caption, CheckedSearch } from '../infer/search.ts';

export interface CaptionedFile {
  image: string;
  caption: Caption;
}

/**
 * Captions `files` with `caption` (images of `pre`, batch size, recordAttention) and prints them;
 * `record`'s fields lead the JSON (the checkpoint, and the architecture where it is not CoCa).
 * Sets the exit code to 1 when a picture could not be read.
 */
export async function captionFiles(
  files: readonly string[],
  a: { batch: number; json: boolean; attention?: string; lang?: string },
  opts: CheckedSearch & Pick<CaptionOptions, 'rerank'>,
  pre: ImagePreprocess,
  tokenizer: Tokenizer,
  caption: (images: Float32Array, n: number, opts: CaptionOptions) => Promise<Caption[]>,
  record: Record<string, unknown>,
): Promise<CaptionedFile[]> {
  const ids = tokenizer.searchIds(a.lang);
  const results: CaptionedFile[] = [];
  let failed = 0;
  for (let i = 0; i < files.length; i += a.batch) {
    const { images, kept, failed: bad } = await loadReadableImages(files.slice(i, i + a.batch), pre);
    for (const b of bad) console.error(`coca: ${b.reason.includes(b.file) ? b.reason : `${b.file}: ${b.reason}`}`);
    failed += bad.length;
    if (kept.length === 0) continue;
    const caps = await caption(images, kept.length, { ...opts, ...ids, recordAttention: !!a.attention });
    caps.forEach((c, j) => results.push({ image: kept[j]!, caption: c }));
    if (!a.json) for (const [j, c] of caps.entries()) console.log(`${kept[j]}\t${tokenizer.decode(c.tokens)}\t(score ${c.score.toFixed(3)}${reranked(c)})`);
  }
  if (failed > 0) process.exitCode = 1;
  if (a.json) {
    const search = opts.sample ? { mode: 'sample', ...opts.sample } : { mode: opts.beams === 1 ? 'greedy' : 'beam', beams: opts.beams, lengthPenalty: opts.lengthPenalty, ...(opts.rerank ? { rerankWeight: opts.rerank.weight } : {}) };
    const out = results.map(({ image, caption: c }) => ({
      image,
      caption: tokenizer.decode(c.tokens),
      score: c.score,
      ...(c.rerank ? { rerank: c.rerank } : {}),
      tokens: c.tokens.slice(1).map((id, k) => ({ id, text: id === tokenizer.eosId ? '[EOT]' : tokenizer.decode([id]), logprob: c.logprobs[k] })),
    }));
    console.log(JSON.stringify({ ...record, ...(a.lang ? { lang: a.lang } : {}), search, minLen: opts.minLen, maxLen: opts.maxLen, repetitionPenalty: opts.repetitionPenalty, captions: out }, null, 2));
  }
  return results;
}

/** How re-ranking chose a caption, for its line (nothing without re-ranking). */
function reranked(c: Caption): string {
  return c.rerank ? `, similarity ${c.rerank.similarity.toFixed(3)}, beam ${c.rerank.beamRank + 1}` : '';
}
