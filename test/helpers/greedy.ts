// A reference for the captioner (src/infer/caption.ts): greedy decoding written directly over the
// full forward, with no Stepper and no search loop. At each step the whole prefix runs through the
// text tower and the multimodal decoder again and each row takes the argmax (ties to the lower
// id); it masks nothing, where the search never generates [PAD] or [SOT]. The KV-cached decoder
// must reproduce its tokens (test/infer/kvcache.test.ts). Formerly src/infer/greedy.ts, which
// `coca eval` used before it decoded through the captioner with one beam.
import type { CocaModel } from '../../src/model/coca.ts';
import { noGrad } from '../../src/tensor/tape.ts';
import { tidy, type Tensor } from '../../src/tensor/tensor.ts';

export interface GreedyOptions {
  /** Total length including [SOT] (open_clip's seq_len). */
  maxLen: number;
  sot?: number;
  eot?: number;
}

/** Token rows for each image, each starting with [SOT] and ending with [EOT] (or at maxLen). */
export async function greedyDecode(model: CocaModel, images: Float32Array, B: number, opts: GreedyOptions): Promise<number[][]> {
  const sot = opts.sot ?? 1;
  const eot = opts.eot ?? 2;
  const pad = model.config.text_cfg.pad_id;
  const V = model.config.multimodal_cfg.vocab_size;
  const maxLen = Math.min(opts.maxLen, model.config.text_cfg.context_length);
  const patches = model.preparePatches(images, B);
  const image = noGrad(() => tidy(() => model.encodeImage(patches)));
  const rows = Array.from({ length: B }, () => [sot]);
  const done = new Array<boolean>(B).fill(false);
  try {
    for (let L = 1; L < maxLen && done.some((d) => !d); L++) {
      // Finished rows keep decoding (the batch stays rectangular); their extra tokens are dropped.
      const text = new Int32Array(B * L).fill(pad);
      rows.forEach((r, b) => r.slice(0, L).forEach((t, i) => (text[b * L + i] = t)));
      for (let b = 0; b < B; b++) for (let i = rows[b]!.length; i < L; i++) text[b * L + i] = eot;
      const prep = model.prepareText(text, B);
      let logits: Tensor | null = null;
      try {
        logits = noGrad(() => tidy(() => model.decode(model.encodeText(prep).tokens, image.tokens)));
        const all = await logits.toArray();
        for (let b = 0; b < B; b++) {
          if (done[b]) continue;
          const row = all.subarray((b * L + L - 1) * V, (b * L + L) * V);
          let best = 0;
          for (let v = 1; v < V; v++) if (row[v]! > row[best]!) best = v;
          rows[b]!.push(best);
          if (best === eot) done[b] = true;
        }
      } finally {
        logits?.release();
        prep.release();
      }
    }
  } finally {
    image.embedding.release();
    image.tokens.release();
    patches.release();
  }
  return rows;
}
