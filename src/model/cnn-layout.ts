// The CNN tower's convolutions, named as torchvision's ResNet names them (under `visual.`), with
// the shapes and strides the parameter list (shapes.ts), the encoder (cnn-encoder.ts) and the
// FLOP count read from one place:
//   visual.conv1 / visual.bn1                        stem, 3x3, stride cnn_stem_stride
//   (a 3x3/2 max pool when cnn_stem_pool)
//   visual.layer{s}.{j}.conv1 / bn1, conv2 / bn2     basic block j of stage s (from 1), 3x3 each;
//                                                    the first block of every stage after the
//                                                    first has stride 2
//   visual.layer{s}.{j}.downsample.0 / .1            1x1 conv + batch norm on the shortcut where
//                                                    the block changes width or stride
import type { VisionCfg } from './config.ts';

export interface ConvSpec {
  /** The conv's name without `.weight`, and its batch norm's. */
  prefix: string;
  bn: string;
  cin: number;
  cout: number;
  k: number;
  stride: number;
  padding: number;
  /** The side of its (square) output map. */
  outSide: number;
}

export interface CnnBlockSpec {
  conv1: ConvSpec;
  conv2: ConvSpec;
  downsample: ConvSpec | null;
}

export interface CnnTowerSpec {
  stem: ConvSpec;
  /** A 3x3/2 max pool (padding 1) after the stem. */
  pool: boolean;
  blocks: CnnBlockSpec[];
  /** The final map's side and channels: its pixels are the tower's tokens. */
  side: number;
  channels: number;
}

const outSide = (n: number, k: number, stride: number, padding: number) => Math.floor((n + 2 * padding - k) / stride) + 1;

export function cnnTower(v: VisionCfg): CnnTowerSpec {
  const widths = v.cnn_widths;
  const depths = v.cnn_depths;
  if (v.tower !== 'cnn' || !widths || !depths) throw new Error('cnnTower: vision_cfg is not a CNN tower');
  const conv = (prefix: string, bn: string, cin: number, cout: number, k: number, stride: number, inSide: number): ConvSpec => {
    const padding = (k - 1) / 2;
    return { prefix, bn, cin, cout, k, stride, padding, outSide: outSide(inSide, k, stride, padding) };
  };
  const stem = conv('visual.conv1', 'visual.bn1', 3, widths[0]!, 3, v.cnn_stem_stride ?? 1, v.image_size);
  const pool = v.cnn_stem_pool ?? false;
  let side = pool ? outSide(stem.outSide, 3, 2, 1) : stem.outSide;
  let cin = widths[0]!;
  const blocks: CnnBlockSpec[] = [];
  widths.forEach((w, s) => {
    for (let j = 0; j < depths[s]!; j++) {
      const p = `visual.layer${s + 1}.${j}`;
      const stride = s > 0 && j === 0 ? 2 : 1;
      const conv1 = conv(`${p}.conv1`, `${p}.bn1`, cin, w, 3, stride, side);
      const conv2 = conv(`${p}.conv2`, `${p}.bn2`, w, w, 3, 1, conv1.outSide);
      const downsample = stride !== 1 || cin !== w ? conv(`${p}.downsample.0`, `${p}.downsample.1`, cin, w, 1, stride, side) : null;
      blocks.push({ conv1, conv2, downsample });
      side = conv1.outSide;
      cin = w;
    }
  });
  return { stem, pool, blocks, side, channels: cin };
}

/** Every conv of the tower in state-dict order (each followed by its batch norm there). */
export function cnnLayout(v: VisionCfg): ConvSpec[] {
  const t = cnnTower(v);
  return [t.stem, ...t.blocks.flatMap((b) => [b.conv1, b.conv2, ...(b.downsample ? [b.downsample] : [])])];
}
