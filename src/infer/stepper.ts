// A Stepper runs the text side of CoCa one position at a time for N rows (images × beams): fed
// the token at position t of every row, it returns the next-token logits of every row. The
// searches (search.ts) only talk to this interface, so the KV-cached stepper (kvcache.ts) and the
// full-recomputation one below can be compared token for token and log-prob for log-prob.
import type { CocaModel } from '../model/coca.ts';
import { ShapeError } from '../gpu/errors.ts';
import { repeatBatch } from '../tensor/ops/rows.ts';
import { sliceSeq } from '../tensor/ops/sequence.ts';
import { noGrad } from '../tensor/tape.ts';
import { Tensor, persist, tidy } from '../tensor/tensor.ts';

export interface Stepper {
  /** N = images × beams; row n belongs to image ⌊n / beams⌋. */
  readonly rows: number;
  readonly beams: number;
  readonly vocab: number;
  /** Positions fed so far (the same for every row). */
  readonly length: number;
  /** Feeds tokens [N] at position `length`; resolves to the logits [N, V] of position length+1. */
  step(tokens: Int32Array): Promise<Float32Array>;
  /** Row n continues the prefix of row parents[n] (beam search); call between steps. */
  reorder(parents: Int32Array): void;
  /**
   * With attention recording on: the last step's cross-attention weights [N, layers, H, Nimg]
   * (null when not recording).
   */
  crossAttention(): Float32Array | null;
  release(): void;
}

/**
 * Full recomputation: every step runs the whole prefix through the text tower and the multimodal
 * decoder (CocaModel.encodeText and decode, as in training) and keeps the last position. The
 * reference for the cache, and the "without cache" column of `coca bench decode`.
 */
export class RecomputeStepper implements Stepper {
  readonly rows: number;
  readonly vocab: number;
  private prefix: number[][];
  private readonly image: Tensor;

  constructor(
    private readonly model: CocaModel,
    imageTokens: Tensor,
    readonly beams: number,
  ) {
    this.rows = imageTokens.shape[0]! * beams;
    this.vocab = model.config.multimodal_cfg.vocab_size;
    this.prefix = Array.from({ length: this.rows }, () => []);
    this.image = persist(noGrad(() => repeatBatch(imageTokens, beams, 'repeat_images')));
  }

  get length(): number {
    return this.prefix[0]!.length;
  }

  async step(tokens: Int32Array): Promise<Float32Array> {
    const { rows: N, model } = this;
    if (tokens.length !== N) throw new ShapeError(`step: ${tokens.length} tokens for ${N} rows`);
    if (this.length >= model.config.text_cfg.context_length) throw new ShapeError(`step: the prefix is already context_length (${this.length}) long`);
    this.prefix.forEach((r, n) => r.push(tokens[n]!));
    const L = this.length;
    const text = new Int32Array(N * L);
    this.prefix.forEach((r, n) => text.set(r, n * L));
    const prep = model.prepareText(text, N);
    try {
      const last = noGrad(() =>
        tidy(() => {
          const logits = model.decode(model.encodeText(prep).tokens, this.image);
          return sliceSeq(logits, L - 1, 1);
        }),
      );
      try {
        return await last.toArray();
      } finally {
        last.release();
      }
    } finally {
      prep.release();
    }
  }

  reorder(parents: Int32Array): void {
    this.prefix = Array.from(parents, (p) => [...this.prefix[p]!]);
  }

  crossAttention(): Float32Array | null {
    return null;
  }

  release(): void {
    this.image.release();
  }
}
