// `coca caption` on a checkpoint of an LSTM or prefix captioner: the same searches, output and attention
// pictures (Show-Attend-Tell's α per word) as for CoCa.
import { Gpu } from '../gpu/gpu.ts';
import { drawWordMaps } from '../infer/attention-map.ts';
import { captionWithLstm } from '../infer/lstm-caption.ts';
import type { CheckedSearch } from '../infer/search.ts';
import type { Arch } from '../model/arch.ts';
import { openCaptioner } from '../model/captioners/checkpoint.ts';
import { CocaError } from '../util/errors.ts';
import { captionFiles } from './caption-files.ts';

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
    const results = await captionFiles(files, a, opts, ck.pre, ck.tokenizer, (images, n, o) => captionWithLstm(ck.model, images, n, o), { checkpoint: dir, arch: ck.model.arch });
    if (a.attention && results.length > 0) {
      await drawWordMaps(results, a.attention, { pre: ck.pre, tokenizer: ck.tokenizer, grid: ck.model.encoder.grid, mapOf: (i, k) => results[i]!.caption.attention?.[k] ?? null });
      if (!a.json) console.log(`attention maps: ${a.attention}`);
    }
  } finally {
    ck.release();
    gpu.destroy();
  }
}
