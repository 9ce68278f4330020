// The prefix captioner of seed 000 (ClipCap-like) on the tape: a frozen coca checkpoint's image
// tower gives each picture its contrastive embedding; a small MLP (the mapping network) turns it
// into prefix_len vectors of the language model's width; a decoder-only causal transformer
// (coca's text-transformer blocks, no cross-attention), trained from scratch on the captions,
// reads [prefix | caption tokens] and predicts each next caption token. The loss is the
// cross-entropy on caption tokens only: the prefix positions predict nothing.
//
// The tower's weights are in the same ParamStore as buffers (ParamSpec.buffer): saved and loaded
// with the model by their coca names, never given a gradient, so AdamW keeps no state for them
// and never moves them; the tower runs off the tape in inference mode (batch norm on running
// statistics). scripts/reference/prefix_torch.py is the same model in PyTorch;
// test/model/prefix-parity.test.ts holds it to that.
import type { Gpu } from '../../gpu/gpu.ts';
import { ShapeError } from '../../gpu/errors.ts';
import { Constants } from '../../nn/activations.ts';
import { block, mlp, norm, type AttentionCache, type KeysValues } from '../../nn/layers.ts';
import { ParamStore, type HostTensor, type ParamSpec } from '../../nn/params.ts';
import { IGNORE_INDEX, releaseTokenIds, uploadTokenIds } from '../../tensor/ids.ts';
import { embedding } from '../../tensor/ops/embedding.ts';
import { linear } from '../../tensor/ops/linear.ts';
import { crossEntropy } from '../../tensor/ops/loss.ts';
import { gatherRows, repeatBatch, writeRows } from '../../tensor/ops/rows.ts';
import { addBroadcastRow, concatSeq, sliceSeq } from '../../tensor/ops/sequence.ts';
import { narrowRows, reshape } from '../../tensor/ops/shape.ts';
import { noGrad } from '../../tensor/tape.ts';
import { persist, shapeStr, Tensor, tidy } from '../../tensor/tensor.ts';
import { Rng } from '../../util/prng.ts';
import { CocaModel } from '../coca.ts';
import type { CocaConfig } from '../config-schema.ts';
import { parameterShapes } from '../shapes.ts';
import type { Captioner } from './captioner.ts';
import type { CaptionBatch, ForwardOptions, LossTerms, LstmDecode } from './lstm.ts';
import { stepsNeeded } from './lstm.ts';
import type { PrefixConfig } from './prefix-config.ts';

const normal = (std: number) => ({ kind: 'normal' as const, std });

/** The coca checkpoint's image-tower parameters (visual.*: trunk, poolers, proj), frozen. */
export function towerSpecs(enc: CocaConfig): ParamSpec[] {
  return parameterShapes(enc)
    .filter((s) => s.name.startsWith('visual.'))
    .map((s) => ({ ...s, decay: false, buffer: true }));
}

/** The language model's blocks, embeddings and final norm: coca's text tower's, renamed text. → lm. */
function lmTrunkSpecs(c: PrefixConfig): ParamSpec[] {
  const d = c.decoder_cfg;
  const W = d.width;
  const one = { width: W, heads: 1, layers: 0, mlp_ratio: 1 };
  // A stand-in CoCa whose text tower has the LM's shape; positions for prefix + caption.
  const stand = {
    embed_dim: W,
    vision_cfg: { image_size: 1, patch_size: 1, ...one, attentional_pool: true, attn_pooler_queries: 2, attn_pooler_heads: 1 },
    text_cfg: { context_length: c.mapping_cfg.prefix_len + d.context_length - 1, vocab_size: d.vocab_size, width: W, heads: d.heads, layers: d.layers, mlp_ratio: d.mlp_ratio, pad_id: d.pad_id },
    multimodal_cfg: { context_length: 1, vocab_size: 1, ...one },
  } as unknown as CocaConfig;
  const keep = /^text\.(token_embedding\.|positional_embedding|transformer\.|ln_final\.)/;
  return parameterShapes(stand)
    .filter((s) => keep.test(s.name))
    .map((s) => ({ ...s, name: `lm.${s.name.slice('text.'.length)}` }));
}

/** Every parameter: the frozen tower, the mapping network, the language model. */
export function prefixParameterShapes(c: PrefixConfig): ParamSpec[] {
  if (!c.encoder) throw new ShapeError('prefix captioner: the config has no encoder (it is filled from --encoder when training starts)');
  const E = c.encoder.config.embed_dim;
  const { prefix_len: K, hidden: Hm } = c.mapping_cfg;
  const { width: W, vocab_size: V } = c.decoder_cfg;
  return [
    ...towerSpecs(c.encoder.config),
    { name: 'mapping.c_fc.weight', shape: [Hm, E], decay: true, init: normal(E ** -0.5) },
    { name: 'mapping.c_fc.bias', shape: [Hm], decay: false, init: { kind: 'zeros' } },
    { name: 'mapping.c_proj.weight', shape: [K * W, Hm], decay: true, init: normal(Hm ** -0.5) },
    { name: 'mapping.c_proj.bias', shape: [K * W], decay: false, init: { kind: 'zeros' } },
    ...lmTrunkSpecs(c),
    { name: 'lm.head.weight', shape: [V, W], decay: true, init: normal(W ** -0.5) },
    { name: 'lm.head.bias', shape: [V], decay: false, init: { kind: 'zeros' } },
  ];
}

/** Next-token targets [B·T], batch-major: row b·T + t is text[b, t + 1] (pad: ignored). */
export function prefixTargets(text: Int32Array, B: number, T: number, pad: number): Int32Array {
  const L = text.length / B;
  const out = new Int32Array(B * T).fill(IGNORE_INDEX);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T && t + 1 < L; t++) {
      const next = text[b * L + t + 1]!;
      if (next !== pad) out[b * T + t] = next;
    }
  }
  return out;
}

/**
 * A self-attention layer's keys | values [N, Lmax, 2W] for incremental decoding; unlike CoCa's
 * (kvcache.ts, one position a call) it appends every row a call brings, so the whole prefix goes
 * in with one pass.
 */
class RowsCache implements AttentionCache {
  length = 0;

  constructor(public kv: Tensor) {}

  keysValues(project: () => KeysValues): KeysValues {
    const { k, v } = project();
    const [, Lmax, width] = this.kv.shape as [number, number, number];
    const E = width / 2;
    const R = k.t.shape[1]!;
    if (this.length + R > Lmax) throw new ShapeError(`prefix decode: the cache holds ${Lmax} positions; ${this.length + R} asked`);
    if (k.t === v.t && v.col === k.col + E) writeRows(this.kv, this.length, 0, k.t, k.col, 2 * E, 'prefix.kv_append');
    else {
      writeRows(this.kv, this.length, 0, k.t, k.col, E, 'prefix.kv_append');
      writeRows(this.kv, this.length, E, v.t, v.col, E, 'prefix.kv_append');
    }
    this.length += R;
    return { k: { t: this.kv, col: 0, rows: this.length }, v: { t: this.kv, col: E, rows: this.length } };
  }
}

export class PrefixCaptioner implements Captioner {
  readonly arch = 'prefix' as const;
  readonly encoder: { readonly grid: number };
  /** The coca model whose image side reads the frozen tower (its other parameters are never asked for). */
  private readonly tower: CocaModel;

  constructor(
    readonly gpu: Gpu,
    readonly config: PrefixConfig,
    readonly params: ParamStore,
  ) {
    if (!config.encoder) throw new ShapeError('prefix captioner: the config has no encoder');
    this.tower = new CocaModel(gpu, config.encoder.config, params);
    const v = config.encoder.config.vision_cfg;
    this.encoder = { grid: v.image_size / v.patch_size };
  }

  /** Fresh mapping network and language model (deterministic per seed) over the given tower weights. */
  static init(gpu: Gpu, config: PrefixConfig, seed: number, tower: Map<string, HostTensor>): PrefixCaptioner {
    const model = new PrefixCaptioner(gpu, config, ParamStore.create(gpu, prefixParameterShapes(config), new Rng(seed)));
    try {
      model.loadTower(tower);
    } catch (e) {
      model.params.release();
      throw e;
    }
    return model;
  }

  /** Copies the tower's weights in by name; every one must be given with its shape (others are ignored). */
  loadTower(values: Map<string, HostTensor>): void {
    for (const s of towerSpecs(this.config.encoder!.config)) {
      const v = values.get(s.name);
      const p = this.params.get(s.name);
      if (!v) throw new ShapeError(`the encoder has no tensor "${s.name}" ${shapeStr(s.shape)}; it was made for another config`);
      if (v.shape.length !== s.shape.length || v.shape.some((n, i) => n !== s.shape[i])) throw new ShapeError(`the encoder's "${s.name}" is ${shapeStr(v.shape)} but its config makes it ${shapeStr(s.shape)}`);
      this.gpu.write(p.buffer, v.data, p.offset * 4);
    }
  }

  get vocab(): number {
    return this.config.decoder_cfg.vocab_size;
  }

  private p(name: string): Tensor {
    return this.params.get(name);
  }

  /** The frozen tower's contrastive embedding [B, E], off the tape (inference mode). */
  imageFeature(images: Float32Array, B: number): Tensor {
    return noGrad(() => tidy(() => this.tower.encodeImage(this.tower.preparePatches(images, B)).embedding));
  }

  /** The mapping network: feature [B, E] → prefix [B, prefix_len, W]. */
  private prefix(feature: Tensor): Tensor {
    const B = feature.shape[0]!;
    return reshape(mlp(this.params, 'mapping', feature), [B, this.config.mapping_cfg.prefix_len, this.config.decoder_cfg.width]);
  }

  /** The language model's trunk over x [B, S, W] at positions from `start`: positions, causal blocks, ln_final. */
  private trunk(x: Tensor, start: number, caches?: readonly AttentionCache[]): Tensor {
    const d = this.config.decoder_cfg;
    const S = x.shape[1]!;
    let h = addBroadcastRow(x, narrowRows(this.p('lm.positional_embedding'), start, S));
    for (let i = 0; i < d.layers; i++) h = block(this.params, `lm.transformer.resblocks.${i}`, h, { heads: d.heads, causal: true, cache: caches?.[i] });
    return norm(this.params, 'lm.ln_final', h);
  }

  private head(h: Tensor): Tensor {
    return linear(h, this.p('lm.head.weight'), this.p('lm.head.bias'));
  }

  /**
   * Teacher forcing over the caption tokens a batch needs: logits [B·T, V], batch-major (row
   * b·T + t predicts text[b, t + 1]); the caller calls release() after the backward.
   */
  forwardLoss(batch: CaptionBatch, _o: ForwardOptions): LossTerms {
    const gpu = this.gpu;
    const d = this.config.decoder_cfg;
    const K = this.config.mapping_cfg.prefix_len;
    const B = batch.batch;
    const L = batch.text.length / B;
    const T = stepsNeeded(batch.text, B, d.pad_id);
    if (T > d.context_length) throw new ShapeError(`prefix captioner: captions of ${T + 1} tokens exceed context_length ${d.context_length}`);
    const idsHost = new Int32Array(B * T);
    for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) idsHost[b * T + t] = batch.text[b * L + t]!;
    const ids = uploadTokenIds(gpu, idsHost, { shape: [B, T], vocab: d.vocab_size, label: 'prefix.words' });
    const targets = uploadTokenIds(gpu, prefixTargets(batch.text, B, T, d.pad_id), { shape: [B * T], label: 'prefix.targets' });
    const k = new Constants(gpu);
    const release = () => {
      k.release();
      releaseTokenIds(gpu, ids);
      releaseTokenIds(gpu, targets);
    };
    try {
      const feature = k.own(this.imageFeature(batch.images, B));
      const words = embedding(this.p('lm.token_embedding.weight'), ids);
      const h = this.trunk(concatSeq([this.prefix(feature), words]), 0);
      const logits = this.head(reshape(sliceSeq(h, K, T), [B * T, d.width]));
      const caption = crossEntropy(logits, targets);
      return { caption, regulariser: null, logits, alphas: [], steps: T, release };
    } catch (e) {
      release();
      throw e;
    }
  }

  /** Starts a caption search over pictures [B, 3, S, S], `beams` rows each: the prefix goes through the LM once, into the caches. */
  beginDecode(images: Float32Array, B: number, beams: number): LstmDecode {
    const gpu = this.gpu;
    const d = this.config.decoder_cfg;
    const K = this.config.mapping_cfg.prefix_len;
    const N = B * beams;
    const caches = Array.from({ length: d.layers }, (_, i) => new RowsCache(persist(Tensor.empty(gpu, [N, K + d.context_length, 2 * d.width], `prefix.kv_cache.${i}`))));
    noGrad(() =>
      tidy(() => {
        const feature = this.imageFeature(images, B);
        this.trunk(repeatBatch(this.prefix(feature), beams), 0, caches);
      }),
    );
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
        if (tokens.length !== N) throw new ShapeError(`step: ${tokens.length} tokens for ${N} rows`);
        if (length >= d.context_length) throw new ShapeError(`step: the caption is already context_length (${d.context_length}) long`);
        const ids = uploadTokenIds(gpu, tokens, { shape: [N, 1], vocab: d.vocab_size, label: 'prefix.step' });
        try {
          const logits = noGrad(() => tidy(() => self.head(reshape(self.trunk(embedding(self.p('lm.token_embedding.weight'), ids), K + length, caches), [N, d.width]))));
          length++;
          try {
            return await logits.toArray();
          } finally {
            logits.release();
          }
        } finally {
          releaseTokenIds(gpu, ids);
        }
      },
      reorder(parents: Int32Array): void {
        if (parents.every((p, n) => p === n)) return;
        const fresh = noGrad(() => gatherRows(caches.map((c) => c.kv), parents, 'prefix.kv_reorder'));
        caches.forEach((c, i) => {
          c.kv.release();
          c.kv = persist(fresh[i]!);
        });
      },
      crossAttention(): Float32Array | null {
        return null;
      },
      release(): void {
        for (const c of caches) c.kv.release();
      },
    };
  }
}
