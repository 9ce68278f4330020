// The LSTM captioners of seed 001 on the tape: Show and Tell and Show, Attend and Tell, over an
// image encoder (image-encoder.ts). Both run time-major ([T, B, ·]) so that a step's rows are
// contiguous, both predict word t+1 from the LSTM's output after word t, and both decode through
// the same step/reorder interface as CoCa's KV cache, so greedy, beam search and sampling are
// shared (src/infer/search.ts). scripts/reference/lstm_torch.py is the same two models in PyTorch;
// test/model/lstm-parity.test.ts holds them to it.
//
// Parameter names are the seed's module names under `decoder.` (decoder.decode_step is its
// LSTMCell, stored as one [4H, I + H] matrix [W_ih | W_hh] and one bias b_ih + b_hh: see
// torch-lstm.ts for loading PyTorch's four tensors).
import type { Gpu } from '../../gpu/gpu.ts';
import { Constants, dropout, meanRows, relu, repeatColumn, repeatRows, sigmoidColumn } from '../../nn/activations.ts';
import { ParamStore, type ParamSpec } from '../../nn/params.ts';
import { IGNORE_INDEX, releaseTokenIds, uploadTokenIds } from '../../tensor/ids.ts';
import { batchNorm } from '../../tensor/ops/cnn.ts';
import { concatCols } from '../../tensor/ops/columns.ts';
import { embedding } from '../../tensor/ops/embedding.ts';
import { linear, matmul } from '../../tensor/ops/linear.ts';
import { crossEntropy } from '../../tensor/ops/loss.ts';
import { lstmSequence } from '../../tensor/ops/lstm.ts';
import { add, mul, scale } from '../../tensor/ops/pointwise.ts';
import { gatherRows, repeatBatch } from '../../tensor/ops/rows.ts';
import { concatSeq } from '../../tensor/ops/sequence.ts';
import { narrowRows, reshape } from '../../tensor/ops/shape.ts';
import { softmaxRows } from '../../tensor/ops/softmax.ts';
import { noGrad } from '../../tensor/tape.ts';
import { persist, Tensor, tidy } from '../../tensor/tensor.ts';
import { Rng } from '../../util/prng.ts';
import { imageEncoder, type ImageEncoder } from '../image-encoder.ts';
import type { LstmConfig } from './config.ts';

const normal = (std: number) => ({ kind: 'normal' as const, std });
const ZEROS = { kind: 'zeros' as const };
const ONES = { kind: 'ones' as const };

function linearSpecs(name: string, out: number, inF: number, std = inF ** -0.5): ParamSpec[] {
  return [
    { name: `${name}.weight`, shape: [out, inF], decay: true, init: normal(std) },
    { name: `${name}.bias`, shape: [out], decay: false, init: ZEROS },
  ];
}

/** Every parameter of a config (encoder first, then the decoder in the seed's module order). */
export function lstmParameterShapes(c: LstmConfig): ParamSpec[] {
  const enc = imageEncoder(c.vision_cfg);
  const d = c.decoder_cfg;
  const { embed_width: E, hidden: H, vocab_size: V } = d;
  const out: ParamSpec[] = [...enc.specs];
  if (c.arch === 'showtell') {
    out.push({ name: 'decoder.embedding.weight', shape: [V, E], decay: false, init: normal(0.1) });
    out.push({ name: 'decoder.decode_step.weight', shape: [4 * H, E + H], decay: true, init: normal(H ** -0.5) });
    out.push({ name: 'decoder.decode_step.bias', shape: [4 * H], decay: false, init: ZEROS });
    out.push(...linearSpecs('decoder.init', E, enc.embedWidth));
    out.push({ name: 'decoder.bn.weight', shape: [E], decay: false, init: ONES });
    out.push({ name: 'decoder.bn.bias', shape: [E], decay: false, init: ZEROS });
    out.push({ name: 'decoder.bn.running_mean', shape: [E], decay: false, init: ZEROS, buffer: true });
    out.push({ name: 'decoder.bn.running_var', shape: [E], decay: false, init: ONES, buffer: true });
  } else {
    const A = d.attention_width!;
    const C = enc.featureWidth;
    out.push(...linearSpecs('decoder.attention.encoder_att', A, C));
    out.push(...linearSpecs('decoder.attention.decoder_att', A, H));
    out.push(...linearSpecs('decoder.attention.full_att', 1, A));
    out.push({ name: 'decoder.embedding.weight', shape: [V, E], decay: false, init: normal(0.1) });
    out.push({ name: 'decoder.decode_step.weight', shape: [4 * H, E + C + H], decay: true, init: normal(H ** -0.5) });
    out.push({ name: 'decoder.decode_step.bias', shape: [4 * H], decay: false, init: ZEROS });
    out.push(...linearSpecs('decoder.init_h', H, C));
    out.push(...linearSpecs('decoder.init_c', H, C));
    out.push(...linearSpecs('decoder.f_beta', 1, H));
  }
  out.push(...linearSpecs('decoder.fc', V, H, 0.05));
  return out;
}

/** A batch as the model reads it: pictures [B, 3, S, S] and token rows [B, L] ([SOT] … [EOT] pad…). */
export interface CaptionBatch {
  images: Float32Array;
  text: Int32Array;
  batch: number;
}

export interface LossTerms {
  /** Mean cross-entropy over the counted next-word targets, [1]. */
  caption: Tensor;
  /** λ · mean over pictures and positions of (1 − Σ_t α)² (Show-Attend-Tell), [1]; null for Show and Tell or λ = 0. */
  regulariser: Tensor | null;
  /** [T·B, V], time-major: row t·B + b predicts text[b, t + 1]. */
  logits: Tensor;
  /** Show-Attend-Tell: α of every step, [B, G²] each. */
  alphas: Tensor[];
  /** Steps run (the longest row's words, the last one predicting nothing). */
  steps: number;
  /** Frees what the backward still reads (token ids, targets, constants): call after it. */
  release(): void;
}

export interface ForwardOptions {
  training: boolean;
  /** Dropout masks are drawn from it in training (none with dropout 0). */
  rng?: Rng;
}

/**
 * One caption search's state, N = images × beams rows, in the shape of infer's Stepper: feed
 * tokens [N], get the next-word logits [N, V].
 */
export interface LstmDecode {
  readonly rows: number;
  readonly beams: number;
  readonly vocab: number;
  readonly length: number;
  step(tokens: Int32Array): Promise<Float32Array>;
  reorder(parents: Int32Array): void;
  /** Show-Attend-Tell while recording: the last step's α, [N, 1, 1, G²]. */
  crossAttention(): Float32Array | null;
  release(): void;
}

/** Time-major next-word targets [T·B] of rows [B, L]: row t·B + b is text[b, t + 1] (pad: ignored). */
export function timeMajorTargets(text: Int32Array, B: number, T: number, pad: number): Int32Array {
  const L = text.length / B;
  const out = new Int32Array(T * B).fill(IGNORE_INDEX);
  for (let t = 0; t < T; t++) {
    for (let b = 0; b < B; b++) {
      const next = t + 1 < L ? text[b * L + t + 1]! : pad;
      if (next !== pad) out[t * B + b] = next;
    }
  }
  return out;
}

/** Steps a batch needs: up to the last row's last word before its final token (trailing pads add nothing). */
export function stepsNeeded(text: Int32Array, B: number, pad: number): number {
  const L = text.length / B;
  let last = 1;
  for (let b = 0; b < B; b++) for (let t = L - 1; t > 0; t--) if (text[b * L + t] !== pad) {
    last = Math.max(last, t);
    break;
  }
  return last;
}

export class LstmCaptioner {
  readonly encoder: ImageEncoder;

  constructor(
    readonly gpu: Gpu,
    readonly config: LstmConfig,
    readonly params: ParamStore,
  ) {
    this.encoder = imageEncoder(config.vision_cfg);
  }

  static init(gpu: Gpu, config: LstmConfig, seed: number): LstmCaptioner {
    return new LstmCaptioner(gpu, config, ParamStore.create(gpu, lstmParameterShapes(config), new Rng(seed)));
  }

  get arch(): LstmConfig['arch'] {
    return this.config.arch;
  }

  get vocab(): number {
    return this.config.decoder_cfg.vocab_size;
  }

  private p(name: string): Tensor {
    return this.params.get(`decoder.${name}`);
  }

  private lin(name: string, x: Tensor): Tensor {
    return linear(x, this.p(`${name}.weight`), this.p(`${name}.bias`));
  }

  /** Show and Tell's first LSTM input: bn(init(image embedding)), [B, E]. */
  private imageInput(embeddingRows: Tensor, training: boolean): Tensor {
    return batchNorm(this.lin('init', embeddingRows), this.p('bn.weight'), this.p('bn.bias'), this.p('bn.running_mean'), this.p('bn.running_var'), { training });
  }

  /** Show-Attend-Tell's attention: α [B, P] and the gated context β·Σ_p α_p f_p [B, C]. */
  private attend(f: Tensor, att1: Tensor, h: Tensor, k: Constants): { alpha: Tensor; context: Tensor } {
    const [B, P, C] = f.shape as [number, number, number];
    const att2 = repeatRows(this.lin('attention.decoder_att', h), P, k);
    const e = this.lin('attention.full_att', relu(add(att1, att2), k));
    const alpha = softmaxRows(reshape(e, [B, P]));
    const z = reshape(matmul(reshape(alpha, [B, 1, P]), f), [B, C]);
    const beta = sigmoidColumn(this.lin('f_beta', h), k);
    return { alpha, context: mul(z, repeatColumn(beta, C, k)) };
  }

  /** One LSTM step from (h, c) [B, H] on input x [B, I]. */
  private cell(x: Tensor, h: Tensor | null, c: Tensor | null): { h: Tensor; c: Tensor } {
    const [B, I] = x.shape as [number, number];
    const o = lstmSequence(reshape(x, [1, B, I]), h, c, this.p('decode_step.weight'), this.p('decode_step.bias'));
    return { h: reshape(o.h, [B, o.h.shape[2]!]), c: o.c };
  }

  /**
   * The forward with teacher forcing and the loss terms, recorded on the active tape (if any).
   * The caller calls release() on the result after the backward (the embedding's backward reads
   * the ids' buffer).
   */
  forwardLoss(batch: CaptionBatch, o: ForwardOptions): LossTerms {
    const gpu = this.gpu;
    const d = this.config.decoder_cfg;
    const B = batch.batch;
    const L = batch.text.length / B;
    const T = stepsNeeded(batch.text, B, d.pad_id);
    const k = new Constants(gpu);
    const idsHost = new Int32Array(T * B);
    for (let t = 0; t < T; t++) for (let b = 0; b < B; b++) idsHost[t * B + b] = batch.text[b * L + t]!;
    const ids = uploadTokenIds(gpu, idsHost, { shape: [T, B], vocab: d.vocab_size, label: 'lstm.words' });
    const targets = uploadTokenIds(gpu, timeMajorTargets(batch.text, B, T, d.pad_id), { shape: [T * B], label: 'lstm.targets' });
    const release = () => {
      k.release();
      releaseTokenIds(gpu, ids);
      releaseTokenIds(gpu, targets);
    };
    const input = k.own(this.encoder.prepare(gpu, batch.images, B));
    try {
      const enc = this.encoder.encode(this.params, input, { training: o.training });
      const words = embedding(this.p('embedding.weight'), ids);
      const E = d.embed_width;
      const H = d.hidden;
      let hs: Tensor;
      const alphas: Tensor[] = [];
      if (this.config.arch === 'showtell') {
        const first = this.imageInput(enc.embedding, o.training);
        const x = reshape(concatSeq([reshape(first, [1, B, E]), reshape(words, [1, T * B, E])]), [T + 1, B, E]);
        const out = lstmSequence(x, null, null, this.p('decode_step.weight'), this.p('decode_step.bias'));
        hs = narrowRows(reshape(out.h, [(T + 1) * B, H]), B, T * B);
      } else {
        const f = enc.features;
        const mean = meanRows(f, k);
        let state = { h: this.lin('init_h', mean), c: this.lin('init_c', mean) };
        const att1 = this.lin('attention.encoder_att', f);
        const outs: Tensor[] = [];
        for (let t = 0; t < T; t++) {
          const { alpha, context } = this.attend(f, att1, state.h, k);
          alphas.push(alpha);
          state = this.cell(concatCols([reshape(narrowRows(words, t, 1), [B, E]), context]), state.h, state.c);
          outs.push(reshape(state.h, [1, B, H]));
        }
        hs = reshape(concatSeq(outs), [T * B, H]);
      }
      const dropped = o.training ? dropout(hs, d.dropout, o.rng ?? new Rng(0), k) : hs;
      const logits = this.lin('fc', dropped);
      const caption = crossEntropy(logits, targets);
      const regulariser = this.config.arch === 'sat' && (d.alpha_c ?? 0) > 0 ? this.doublyStochastic(alphas, batch.text, B, T, k) : null;
      return { caption, regulariser, logits, alphas, steps: T, release };
    } catch (e) {
      release();
      throw e;
    }
  }

  /**
   * λ · mean over pictures b and positions p of (1 − Σ_t α_tbp)², the sum over the steps whose
   * prediction counts (as seed 001, whose finished rows leave α at 0): the picture's every part
   * gets attention over the caption as a whole.
   */
  private doublyStochastic(alphas: Tensor[], text: Int32Array, B: number, T: number, k: Constants): Tensor {
    const P = alphas[0]!.shape[1]!;
    const L = text.length / B;
    const pad = this.config.decoder_cfg.pad_id;
    let sum: Tensor | null = null;
    for (let t = 0; t < T; t++) {
      const m = new Float32Array(B * P);
      for (let b = 0; b < B; b++) if (t + 1 < L && text[b * L + t + 1] !== pad) m.fill(1, b * P, (b + 1) * P);
      const counted = mul(alphas[t]!, k.own(Tensor.fromArray(this.gpu, m, [B, P], 'sat.step_mask')));
      sum = sum ? add(sum, counted) : counted;
    }
    const gap = add(scale(sum!, -1), k.filled([B, P], 1));
    const total = matmul(reshape(mul(gap, gap), [1, B * P]), k.filled([B * P, 1], 1));
    return scale(reshape(total, [1]), (this.config.decoder_cfg.alpha_c ?? 1) / (B * P));
  }

  /** Starts a caption search over pictures [B, 3, S, S], `beams` rows each. */
  beginDecode(images: Float32Array, B: number, beams: number, o: { recordAttention?: boolean } = {}): LstmDecode {
    const gpu = this.gpu;
    const d = this.config.decoder_cfg;
    const N = B * beams;
    const k = new Constants(gpu);
    const sat = this.config.arch === 'sat';
    // The image side, once: Show and Tell's first step, or Show-Attend-Tell's feature map and its projection.
    const start = noGrad(() =>
      tidy(() => {
        const input = this.encoder.prepare(gpu, images, B);
        const enc = this.encoder.encode(this.params, input, { training: false });
        if (!sat) {
          const first = this.imageInput(enc.embedding, false);
          const E = d.embed_width;
          const rep = reshape(repeatBatch(reshape(first, [B, 1, E]), beams), [N, E]);
          const s = this.cell(rep, null, null);
          return { h: s.h, c: s.c };
        }
        const f = repeatBatch(enc.features, beams);
        const mean = meanRows(f, k);
        return { h: this.lin('init_h', mean), c: this.lin('init_c', mean), f, att1: this.lin('attention.encoder_att', f) };
      }),
    );
    for (const t of Object.values(start)) persist(t);
    let h = start.h;
    let c = start.c;
    let alpha: Float32Array | null = null;
    let length = 0;
    const self = this;
    return {
      rows: N,
      beams,
      vocab: d.vocab_size,
      get length() {
        return length;
      },
      async step(tokens: Int32Array): Promise<Float32Array> {
        const ids = uploadTokenIds(gpu, tokens, { shape: [N, 1], vocab: d.vocab_size, label: 'lstm.step' });
        try {
          const r = noGrad(() =>
            tidy(() => {
              const w = reshape(embedding(self.p('embedding.weight'), ids), [N, d.embed_width]);
              let x = w;
              let a: Tensor | null = null;
              if (sat) {
                const at = self.attend(start.f!, start.att1!, h, k);
                a = at.alpha;
                x = concatCols([w, at.context]);
              }
              const s = self.cell(x, h, c);
              return { h: s.h, c: s.c, logits: self.lin('fc', s.h), ...(a ? { alpha: a } : {}) };
            }),
          );
          h.release();
          c.release();
          h = persist(r.h);
          c = persist(r.c);
          length++;
          try {
            if (r.alpha) alpha = o.recordAttention ? await r.alpha.toArray() : null;
            return await r.logits.toArray();
          } finally {
            r.logits.release();
            r.alpha?.release();
          }
        } finally {
          releaseTokenIds(gpu, ids);
        }
      },
      reorder(parents: Int32Array): void {
        const [h2, c2] = noGrad(() => gatherRows([h, c], parents, 'lstm.reorder'));
        h.release();
        c.release();
        h = persist(h2!);
        c = persist(c2!);
      },
      crossAttention(): Float32Array | null {
        return alpha;
      },
      release(): void {
        h.release();
        c.release();
        start.f?.release();
        start.att1?.release();
        k.release();
      },
    };
  }
}
