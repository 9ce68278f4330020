// `coca caption` on a checkpoint of an LSTM or prefix captioner: the same searches, output and attention
// pictures (Show-Attend-Tell's α per word) as for CoCa.
import { Gpu } from '../gpu/gpu.ts';
import { drawWordMaps } from '../infer/attention-map.ts';
import { captionWithLstm } from '../infer/lstm-caption.ts';
import { loadReadableImages } from '../infer/load.ts';
import type { Caption, CheckedSearch } from '../infer/search.ts';
import type { Arch } from '../model/arch.ts';
import { openCaptioner } from '../model/captioners/checkpoint.ts';
import { CocaError } from '../util/errors.ts';

export interface LstmCaptionArgs {
  batch: number;
  json: boolean;
  attention?: string;
  lang?: string;
}

/** Refuses what the architecture cannot do before anything runs. */
export function checkLstmCaption(dir: string, arch: Arch, a: LstmCaptionArgs): void {
  if (a.attention && arch !== 'sat') throw new CocaError(`--attention: ${dir} holds a ${arch} model, which has no attention over the picture to draw; drop --attention (sat and coca models have it)`);
}

export async function captionLstmCommand(dir: string, files: readonly string[], a: LstmCaptionArgs, opts: CheckedSearch): Promise<void> {
  const gpu = await Gpu.open();
  const ck = openCaptioner(gpu, dir);
  try {
    const ids = ck.tokenizer.searchIds(a.lang);
    const results: { image: string; caption: Caption }[] = [];
    let failed = 0;
    for (let i = 0; i < files.length; i += a.batch) {
      const { images, kept, failed: bad } = await loadReadableImages(files.slice(i, i + a.batch), ck.pre);
      for (const b of bad) console.error(`coca: ${b.reason.includes(b.file) ? b.reason : `${b.file}: ${b.reason}`}`);
      failed += bad.length;
      if (kept.length === 0) continue;
      const caps = await captionWithLstm(ck.model, images, kept.length, { ...opts, ...ids, recordAttention: !!a.attention });
      caps.forEach((c, j) => results.push({ image: kept[j]!, caption: c }));
      if (!a.json) for (const [j, c] of caps.entries()) console.log(`${kept[j]}\t${ck.tokenizer.decode(c.tokens)}\t(score ${c.score.toFixed(3)})`);
    }
    if (failed > 0) process.exitCode = 1;
    if (a.json) {
      const search = opts.sample ? { mode: 'sample', ...opts.sample } : { mode: opts.beams === 1 ? 'greedy' : 'beam', beams: opts.beams, lengthPenalty: opts.lengthPenalty };
      const out = results.map(({ image, caption: c }) => ({
        image,
        caption: ck.tokenizer.decode(c.tokens),
        score: c.score,
        tokens: c.tokens.slice(1).map((id, k) => ({ id, text: id === ck.tokenizer.eosId ? '[EOT]' : ck.tokenizer.decode([id]), logprob: c.logprobs[k] })),
      }));
      console.log(JSON.stringify({ checkpoint: dir, arch: ck.model.arch, ...(a.lang ? { lang: a.lang } : {}), search, minLen: opts.minLen, maxLen: opts.maxLen, repetitionPenalty: opts.repetitionPenalty, captions: out }, null, 2));
    }
    if (a.attention && results.length > 0) {
      await drawWordMaps(results, a.attention, { pre: ck.pre, tokenizer: ck.tokenizer, grid: ck.model.encoder.grid, mapOf: (i, k) => results[i]!.caption.attention?.[k] ?? null });
      if (!a.json) console.log(`attention maps: ${a.attention}`);
    }
  } finally {
    ck.release();
    gpu.destroy();
  }
}
