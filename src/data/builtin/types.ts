// What each source of the built-in set yields before splitting and rasterising.
import type { ImageInput } from '../image.ts';

export interface SourcePair {
  /** Stable id, unique over the whole build (e.g. "google/1f436"). */
  id: string;
  /** Art style: google, twitter, openmoji, fluent, tuxpaint, game-icons. */
  style: string;
  /** Normalised caption (English). */
  caption: string;
  /** The same caption in other languages, normalised, where the source has a translation: {ru: "морда собаки"}. */
  translations?: Record<string, string>;
  /** Items with the same link are always split together (e.g. all skin tones of one emoji). */
  link: string;
  /** A skin-tone variant (the small build leaves these out). */
  tone: boolean;
  image: ImageInput;
}

export interface SourceInfo {
  /** What the build takes from it: pictures or only their names. */
  role: 'pictures' | 'names';
  name: string;
  version: string;
  license: string;
  attribution: string;
}

export interface SourceResult {
  pairs: SourcePair[];
  info: SourceInfo[];
}
