// DeViSE (Frome et al. 2013, seed 002): an image tower regressed into the space of a language
// model trained on text alone. The image's pooled features go through one linear map M (no bias,
// as the paper's) to a point v in the word-vector space; each label j has a fixed unit vector t_j
// (skipgram.ts); the score of label j is t_j·v. Training uses the paper's hinge rank loss, summed
// over every wrong label of the training label set:
//     loss(image, y) = Σ_{j ≠ y} max(0, margin − t_y·v + t_j·v)
// (batch mean), and zero-shot classification ranks any label set by t_j·v: labels the image tower
// never saw are reachable through their words' position in the text model's space.
//
// The tower is the CNN of cnn-encoder.ts (its global average pool). The scores are computed on
// the GPU on the tape; the hinge itself is a few thousand comparisons per batch, computed on the
// CPU in float64 from the scores read back, and its gradient seeds the tape's backward.
import type { Gpu } from '../gpu/gpu.ts';
import { ParamStore, type ParamSpec } from '../nn/params.ts';
import { linear, matmul } from '../tensor/ops/linear.ts';
import { noGrad, Tape, withTape } from '../tensor/tape.ts';
import { Tensor, tidy } from '../tensor/tensor.ts';
import { Rng } from '../util/prng.ts';
import { cnnEncode } from './cnn-encoder.ts';
import type { VisionCfg } from './config.ts';
import { cnnTowerSpecs } from './shapes.ts';

export const DEVISE_MARGIN = 0.1;

export interface DeviseConfig {
  /** A CNN tower (tower "cnn", its cnn_* keys). */
  vision_cfg: VisionCfg;
  /** The word vectors' width. */
  embed_dim: number;
}

export interface HingeResult {
  /** Mean over the batch of each image's sum over wrong labels. */
  loss: number;
  /** d loss / d scores, [B, L]. */
  dScores: Float64Array;
  /** Hinge terms that are active (for the record: the loss is 0 when none is). */
  active: number;
}

/** The hinge rank loss of scores [B, L] (row b: t_j·v_b) for true labels y[b], and its gradient. */
export function hingeRankLoss(scores: ArrayLike<number>, B: number, L: number, labels: ArrayLike<number>, margin = DEVISE_MARGIN): HingeResult {
  if (scores.length !== B * L) throw new RangeError(`hingeRankLoss: ${scores.length} scores, expected ${B}×${L}`);
  const dScores = new Float64Array(B * L);
  let loss = 0;
  let active = 0;
  for (let b = 0; b < B; b++) {
    const y = labels[b]!;
    if (!(Number.isInteger(y) && y >= 0 && y < L)) throw new RangeError(`hingeRankLoss: label ${y} of row ${b} is not in [0, ${L})`);
    const ty = scores[b * L + y]!;
    for (let j = 0; j < L; j++) {
      if (j === y) continue;
      const h = margin - ty + scores[b * L + j]!;
      if (h > 0) {
        loss += h;
        active++;
        dScores[b * L + j]! += 1 / B;
        dScores[b * L + y]! -= 1 / B;
      }
    }
  }
  return { loss: loss / B, dScores, active };
}

export class DeviseModel {
  constructor(
    readonly gpu: Gpu,
    readonly config: DeviseConfig,
    readonly params: ParamStore,
  ) {}

  static specs(c: DeviseConfig): ParamSpec[] {
    const widths = c.vision_cfg.cnn_widths ?? [];
    const C = widths[widths.length - 1]!;
    return [...cnnTowerSpecs(c.vision_cfg), { name: 'devise.proj.weight', shape: [c.embed_dim, C], decay: true, init: { kind: 'normal', std: C ** -0.5 } }];
  }

  static init(gpu: Gpu, c: DeviseConfig, seed: number): DeviseModel {
    return new DeviseModel(gpu, c, ParamStore.create(gpu, DeviseModel.specs(c), new Rng(seed)));
  }

  /** Pictures [B, 3, S, S] → v [B, D], the image's point in the word-vector space. */
  embed(images: Tensor): Tensor {
    return linear(cnnEncode(this.params, this.config.vision_cfg, images).embedding, this.params.get('devise.proj.weight'));
  }

  imagesTensor(images: Float32Array, B: number): Tensor {
    const S = this.config.vision_cfg.image_size;
    return Tensor.fromArray(this.gpu, images, [B, 3, S, S], 'images');
  }

  /**
   * One hinge-rank forward and backward: the gradients of every parameter in .grad (the tower's
   * batch norm in training mode); labelVectors [L, D] is fixed (no gradient). Returns the loss.
   */
  async lossAndBackward(images: Float32Array, labels: ArrayLike<number>, labelVectors: Tensor, margin = DEVISE_MARGIN): Promise<HingeResult> {
    const B = labels.length;
    const L = labelVectors.shape[0]!;
    const tape = new Tape();
    const x = this.imagesTensor(images, B);
    try {
      const scores = withTape(tape, () => matmul(this.embed(x), labelVectors, { transB: true }));
      tape.keep(scores);
      const h = hingeRankLoss(await scores.toArray(), B, L, labels, margin);
      tape.backwardFrom([[scores, Tensor.fromArray(this.gpu, Float32Array.from(h.dScores), [B, L], 'd_scores')]]);
      scores.grad?.release();
      scores.grad = null;
      scores.release();
      return h;
    } finally {
      tape.dispose();
      x.release();
    }
  }

  /** Scores [B, L] of every label for each picture, inference (running statistics). */
  async scores(images: Float32Array, B: number, labelVectors: Tensor): Promise<Float32Array> {
    const x = this.imagesTensor(images, B);
    try {
      const s = noGrad(() => tidy(() => matmul(this.embed(x), labelVectors, { transB: true })));
      const out = await s.toArray();
      s.release();
      return out;
    } finally {
      x.release();
    }
  }
}
