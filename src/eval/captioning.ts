// Captioning scores on raw caption strings: tokenise the coco-caption way, then BLEU-1..4 and
// CIDEr-D over the whole set (CIDEr-D's IDF comes from this set's references, so score the
// whole split in one call, never image by image).
import { bleu } from './bleu.ts';
import { ciderD } from './cider.ts';
import { tokenizeCaption } from './tokenize.ts';

export interface CaptionScores {
  /** BLEU-1..4, corpus level. */
  bleu: number[];
  ciderD: number;
  perImage: { bleu4: number[]; ciderD: number[] };
}

/** hyps[i]: the generated caption of image i; refs[i]: its reference captions. */
export function scoreCaptions(hyps: readonly string[], refs: readonly (readonly string[])[]): CaptionScores {
  const h = hyps.map(tokenizeCaption);
  const r = refs.map((rs) => rs.map(tokenizeCaption));
  const b = bleu(h, r, 4);
  const c = ciderD(h, r);
  return { bleu: b.bleu, ciderD: c.score, perImage: { bleu4: b.perImage[3]!, ciderD: c.perImage } };
}
