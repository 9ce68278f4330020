// A small ResNet-style image encoder from scratch (no pretrained weights can be had here), on the
// tape's conv2d, batchNorm, maxPool2d and globalAvgPool: a conv-bn-act stem (optionally max
// pooled), then stages of basic residual blocks, each stage after the first halving the map with
// a stride-2 first block and a 1x1 conv + batch norm on its shortcut (torchvision's ResNet, its
// names; layout in cnn-layout.ts). It gives the final feature map, its pixels as tokens
// [B, H·W, C] (what CoCa's attentional poolers and an attention decoder read) and its global
// average [B, C] (an image embedding).
//
// The nonlinearity is GELU where torchvision's ResNet has ReLU: GELU is the tape's one pointwise
// nonlinearity, and a ReLU would be a new kernel. Both are ≈ identity for large inputs and ≈ 0
// for very negative ones; ConvNeXt trains its ResNet-like stages with GELU.
//
// Batch norm uses the batch's statistics (and moves the running ones, PyTorch's momentum 0.1 and
// unbiased variance) exactly when the tower is being trained: its parameters require gradients
// and a tape is recording. Inference, validation and a frozen tower use the running statistics,
// as PyTorch's eval().
import type { ParamStore } from '../nn/params.ts';
import { batchNorm, conv2d, globalAvgPool, maxPool2d } from '../tensor/ops/cnn.ts';
import { matmul } from '../tensor/ops/linear.ts';
import { add, gelu } from '../tensor/ops/pointwise.ts';
import { reshape } from '../tensor/ops/shape.ts';
import { needsGrad } from '../tensor/tape.ts';
import { Tensor } from '../tensor/tensor.ts';
import { cnnTower, type ConvSpec } from './cnn-layout.ts';
import type { VisionCfg } from './config.ts';

export interface CnnEncodeOptions {
  /** Batch statistics (training) or running statistics; default: whether the tower is being trained. */
  training?: boolean;
}

/** Whether a forward now trains the tower (see the header). */
export function cnnTraining(ps: ParamStore): boolean {
  return needsGrad(ps.get('visual.conv1.weight')) !== null;
}

function convBn(ps: ParamStore, c: ConvSpec, x: Tensor, training: boolean): Tensor {
  const y = conv2d(x, ps.get(`${c.prefix}.weight`), null, { stride: c.stride, padding: c.padding });
  const bn = (k: string) => ps.get(`${c.bn}.${k}`);
  return batchNorm(y, bn('weight'), bn('bias'), bn('running_mean'), bn('running_var'), { training });
}

/** Images [B, 3, S, S] → the final feature map [B, C, H, W]. */
export function cnnFeatureMap(ps: ParamStore, v: VisionCfg, images: Tensor, o: CnnEncodeOptions = {}): Tensor {
  const t = cnnTower(v);
  const training = o.training ?? cnnTraining(ps);
  let x = gelu(convBn(ps, t.stem, images, training));
  if (t.pool) x = maxPool2d(x, { kernel: 3, stride: 2, padding: 1 });
  for (const b of t.blocks) {
    const h = gelu(convBn(ps, b.conv1, x, training));
    const shortcut = b.downsample ? convBn(ps, b.downsample, x, training) : x;
    x = gelu(add(convBn(ps, b.conv2, h, training), shortcut));
  }
  return x;
}

/**
 * A feature map [B, C, H, W] → its pixels as tokens [B, H·W, C], row by row (as the ViT's
 * patches). The transpose is a batched product with the identity: the tape's matmul brings its
 * backward, and at these sizes (C ≤ a few hundred) it costs next to the convolutions nothing.
 */
export function mapTokens(map: Tensor): Tensor {
  const [B, C, H, W] = map.shape as [number, number, number, number];
  const eye = new Float32Array(C * C);
  for (let i = 0; i < C; i++) eye[i * C + i] = 1;
  const identity = Tensor.fromArray(map.gpu, eye, [C, C], 'cnn.identity');
  const tape = needsGrad(map);
  const tokens = matmul(reshape(map, [B, C, H * W]), identity, { transA: true });
  // The identity is read by the backward when recorded; otherwise it is scratch.
  if (tape) tape.track(identity);
  else identity.release();
  return tokens;
}

/** A feature map [B, C, H, W] → its global average [B, C]. */
export function mapPooled(map: Tensor): Tensor {
  return globalAvgPool(map);
}

/**
 * Both of the tower's outputs from one pass, for models that read an image embedding and a
 * feature map (Show-and-Tell, Show-Attend-Tell, DeViSE): the map's global average [B, C] and its
 * pixels as tokens [B, H·W, C]. Parameters: cnnTowerSpecs (shapes.ts).
 */
export function cnnEncode(ps: ParamStore, v: VisionCfg, images: Tensor, o: CnnEncodeOptions = {}): { embedding: Tensor; features: Tensor } {
  const map = cnnFeatureMap(ps, v, images, o);
  return { embedding: mapPooled(map), features: mapTokens(map) };
}
