// `coca eval` on a captioner that is not CoCa (Show and Tell, Show-Attend-Tell, prefix): BLEU-1..4 and CIDEr-D of
// its greedy captions on each split, scored by the same code as CoCa's rows, so the two tables
// line up. Retrieval and zero-shot need a joint embedding these models do not have: a split of
// classes is named and skipped.
import { BatchLoader, DataError, loadDataset, type ImagePreprocess, type Tokenizer } from '../data/index.ts';
import { captionWithLstm } from '../infer/lstm-caption.ts';
import type { CheckedSearch } from '../infer/search.ts';
import type { Captioner } from '../model/captioners/captioner.ts';
import { scoreCaptions } from './captioning.ts';
import { captionMetrics, type EvalSection } from './report.ts';
import type { CaptionRecord } from './sheet.ts';

export interface CaptionerEvalContext {
  model: Captioner;
  tokenizer: Tokenizer;
  pre: ImagePreprocess;
  strict?: boolean;
  batch: number;
  maxItems?: number;
  search: CheckedSearch;
  log: (line: string) => void;
  captions?: CaptionRecord[];
}

/** Captioning scores on one split; null for a split of classes (zero-shot), told in one line. */
export async function evalCaptionerSplit(ctx: CaptionerEvalContext, data: string, split: string): Promise<EvalSection | null> {
  const { model, tokenizer } = ctx;
  const ds = await loadDataset(data, { split, imageSize: ctx.pre.size, strict: ctx.strict ?? false });
  if (ds.classes?.length) {
    ctx.log(`  ${split}: a split of classes (zero-shot classification), which a ${model.arch} model cannot do without a joint embedding; skipped`);
    return null;
  }
  const t0 = performance.now();
  const loader = new BatchLoader(ds, { batchSize: ctx.batch, contextLength: model.config.decoder_cfg.context_length, tokenizer, preprocess: ctx.pre, strict: ctx.strict ?? false, train: false });
  const search = { ...ctx.search, ...tokenizer.searchIds() };
  const hyps: string[] = [];
  const items: number[] = [];
  const limit = ctx.maxItems ?? Infinity;
  try {
    for (;;) {
      const b = await loader.next();
      const rows = Math.min(b.rows, limit - items.length);
      if (rows > 0) {
        const plane = 3 * ctx.pre.size ** 2;
        for (const c of await captionWithLstm(model, b.images.subarray(0, rows * plane), rows, search)) hyps.push(tokenizer.decode(c.tokens));
        items.push(...b.indices.subarray(0, rows));
      }
      if (b.last || items.length >= limit) break;
    }
    const note = loader.decodeSummary();
    if (note) ctx.log(note);
  } finally {
    await loader.close();
  }
  if (items.length === 0) throw new DataError(`none of the ${ds.length} pictures of ${ds.name} ${split} could be decoded; check the image files (--strict names the first and why)`);
  const refs = items.map((i) => [...ds.captions(i)]);
  ctx.captions?.push(...hyps.map((caption, k) => ({ split, item: items[k]!, id: ds.meta(items[k]!).id, caption, references: refs[k]! })));
  ctx.log(`  ${split}: captioned ${items.length} images (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  return { title: split, sizes: { images: items.length, captions: refs.flat().length }, rows: [{ name: model.arch, metrics: captionMetrics(scoreCaptions(hyps, refs)) }] };
}
