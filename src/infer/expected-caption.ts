// The built-in model's caption of a fixed picture, recorded when the model is shipped
// (scripts/ship-model.ts writes models/builtin/expected-caption.json) and recomputed by its test:
// the same weights through the same caption path (`coca caption --beams 1`: the picture read as
// the model's preprocessing says, greedy search with coca caption's other defaults) must give the
// same token ids, so a change that alters what the shipped model says is noticed.
import { captionImages } from './caption.ts';
import { loadImageFiles, type OpenCheckpoint } from './load.ts';
import { checkSearch, type CheckedSearch } from './search.ts';

export const EXPECTED_CAPTION_FORMAT = 'coca-expected-caption-1';

export interface ExpectedCaption {
  format: typeof EXPECTED_CAPTION_FORMAT;
  /** The picture, relative to the package root, and the sha256 of its bytes. */
  picture: { file: string; sha256: string; about: string };
  /** The search, as checkSearch fills it in for `--beams 1`. */
  search: CheckedSearch;
  /** Token ids from [SOT] to [EOT] (or the length limit), their text, and each generated token's log-probability. */
  tokens: number[];
  text: string;
  logprobs: number[];
  /** Whether the float32 checkpoint it was converted from gave the same tokens (half-precision rounding changed nothing here). */
  sameAsFloat32Source?: boolean;
}

/** coca caption's greedy search: --beams 1 and every other option at its default. */
export const GREEDY_SEARCH: CheckedSearch = checkSearch({ beams: 1 });

/** The greedy caption of one picture file by `ck`, as `coca caption FILE --beams 1` computes it. */
export async function greedyCaption(ck: OpenCheckpoint, file: string): Promise<{ tokens: number[]; text: string; logprobs: number[] }> {
  const images = await loadImageFiles([file], ck.pre);
  const [c] = await captionImages(ck.model, images, 1, { ...GREEDY_SEARCH, ...ck.tokenizer.searchIds() });
  return { tokens: [...c!.tokens], text: ck.tokenizer.decode(c!.tokens), logprobs: [...c!.logprobs] };
}
