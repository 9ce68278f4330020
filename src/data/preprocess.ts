// How a picture becomes a model's input. This belongs to the model, not to the data: a model
// records it in its config (vision_cfg.image_*, open_clip's names) when training starts, and every
// command that feeds the model reads it from there, whatever dataset or file the pixels come from.
// A dataset only supplies pixels; the built-in set's measured mean/std are merely the default a
// new training run on it records.
import type { Triple } from './augment.ts';
import { CLIP_MEAN, CLIP_STD } from './augment.ts';

/**
 * open_clip's resize modes: `shortest` scales the shorter side and centre-crops (photos),
 * `longest` scales the longer side and pads with the background (art, letterboxed), `squash`
 * scales each side on its own.
 */
export const RESIZE_MODES = ['shortest', 'longest', 'squash'] as const;
export type ResizeMode = (typeof RESIZE_MODES)[number];

/**
 * The resamplers coca has (open_clip names others; a config naming one coca lacks is refused).
 * bilinear: coca's own (toTensor); bicubic: Pillow's, in open_clip's order for evaluation (resize,
 * then crop or pad; resample.ts). Training's random crops are resampled bilinear either way.
 */
export const INTERPOLATIONS = ['bilinear', 'bicubic'] as const;
export type Interpolation = (typeof INTERPOLATIONS)[number];

export interface ImagePreprocess {
  /** Side of the square input. */
  size: number;
  /** Per-channel statistics: input = (v/255 - mean) / std. */
  mean: Triple;
  std: Triple;
  interpolation: Interpolation;
  resizeMode: ResizeMode;
  /** 8-bit RGB that transparency is flattened onto and `longest` pads with. */
  background: Triple;
  /**
   * Set only for models imported from open_clip with `longest` (vision_cfg.image_pad_after_resize,
   * its fill_color): open_clip's order, the picture resized keeping its ratio and then padded with
   * this RGB. Absent: coca's order, padded with `background` and then resized.
   */
  padAfterResize?: Triple;
  /**
   * Set only for models imported from open_clip (vision_cfg.image_alpha "drop"): transparency is
   * dropped as Pillow's convert('RGB') drops it, keeping the colour stored under it, not flattened
   * on `background`. A transparent picture is then what open_clip trained on, not white.
   */
  alpha?: 'drop';
}

export const WHITE: Triple = [255, 255, 255];

/** What sharp calls each resize mode (display code: thumbnails, attention maps). */
export function fitOf(mode: ResizeMode): 'cover' | 'contain' | 'fill' {
  return mode === 'shortest' ? 'cover' : mode === 'longest' ? 'contain' : 'fill';
}

/** `where: what is wrong`, or null, for a mean or std triple. */
export function checkStats(name: 'mean' | 'std', v: readonly number[]): string | null {
  if (v.length !== 3 || v.some((x) => typeof x !== 'number' || !Number.isFinite(x))) return `${name} must be three finite numbers, got ${JSON.stringify(v)}`;
  if (name === 'std' && v.some((x) => x <= 0)) return `std must be three numbers above 0, got ${JSON.stringify(v)}`;
  return null;
}

/**
 * What a new training run records when the user chose nothing: a built dataset's own measured
 * statistics (the built-in art is mostly white background; CLIP's would leave its inputs far from
 * zero mean), pictures kept whole and letterboxed on white as the set stores them; for other
 * data CLIP's statistics and open_clip's centre crop.
 */
export function defaultPreprocess(size: number, measured?: { mean: Triple; std: Triple }): ImagePreprocess {
  return measured
    ? { size, mean: measured.mean, std: measured.std, interpolation: 'bilinear', resizeMode: 'longest', background: WHITE }
    : { size, mean: CLIP_MEAN, std: CLIP_STD, interpolation: 'bilinear', resizeMode: 'shortest', background: WHITE };
}

/** One line for logs and notices. */
export function describePreprocess(p: ImagePreprocess): string {
  const f = (t: Triple) => t.map((x) => +x.toFixed(6)).join(' ');
  const pad = p.padAfterResize ? `, padded after resizing with ${p.padAfterResize.join(' ')}` : '';
  const alpha = p.alpha === 'drop' ? ', transparency dropped' : '';
  return `${p.size} px, resize ${p.resizeMode}${pad}, ${p.interpolation}, background ${p.background.join(' ')}${alpha}, mean ${f(p.mean)}, std ${f(p.std)}`;
}
