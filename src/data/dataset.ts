// The shape every dataset takes once loaded, whatever it was read from. A dataset supplies
// pictures and captions only; how pictures become the model's input is the model's (preprocess.ts).
import type { RgbImage } from './image.ts';
import type { ImageSource } from './prep.ts';

export interface ItemMeta {
  id: string;
  /** Art style or source (built-in set). */
  style?: string;
  /** Split group (built-in set). */
  group?: string;
  /** Class index (classification splits such as test-fmnist). */
  label?: number;
}

export interface Dataset {
  readonly name: string;
  readonly split: string;
  readonly length: number;
  /** Side the pictures are wanted at (a built set reads the smallest raster not smaller). */
  readonly imageSize: number;
  /** Class names, for classification splits. */
  readonly classes?: readonly string[];
  /** Normalised captions of item i (one or more), in English (or the dataset's one language). */
  captions(i: number): readonly string[];
  /** Caption languages, English first (built-in sets built with languages); absent: English only. */
  readonly languages?: readonly string[];
  /** Item i's captions in `lang` (none where it has no translation); with `languages`. */
  captionsIn?(i: number, lang: string): readonly string[];
  meta(i: number): ItemMeta;
  /**
   * Item i as 8-bit RGB. `eval`: exactly imageSize×imageSize (shorter side, centre crop).
   * `train`: at least imageSize on the shorter side, aspect kept, for random crops.
   */
  image(i: number, mode: 'train' | 'eval'): Promise<RgbImage>;
  /** Where item i's picture is, for loader worker threads; datasets without it are read in-thread. */
  source?(i: number): ImageSource;
  /** Releases open files. */
  close(): void;
}
