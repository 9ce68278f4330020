// `coca train --augment`: the training augmentations beyond today's crop and flip, written as a
// short list (`colour,grey,blur`, each with an optional value: `colour=0.3,blur=0.2`), kept in
// run.json in one canonical spelling so that a resume can compare what it is given with it.
import { DEFAULT_AUGMENT, type AugmentConfig } from './augment.ts';
import { DataError } from './errors.ts';

/** SimCLR's probability of applying the colour jitter. */
export const COLOUR_P = 0.8;

interface Item {
  /** Value when the item is named without one. */
  dflt?: number;
  /** What the value is, for --help and the error line. */
  means: string;
  /** Accepted range: (0, max]. */
  max: number;
}

/** The items in canonical order. */
export const AUGMENT_ITEMS: Record<'scale' | 'colour' | 'grey' | 'blur', Item> = {
  scale: { means: `the smallest crop, as a share of the picture's area (today's ${DEFAULT_AUGMENT.scale[0]})`, max: 1 },
  colour: { dflt: 0.4, means: `brightness, contrast and saturation each scaled by a factor in [1 − s, 1 + s], in random order, on ${COLOUR_P * 100} % of the pictures`, max: 1 },
  grey: { dflt: 0.2, means: 'the share of pictures turned grey', max: 1 },
  blur: { dflt: 0.5, means: 'the share of pictures blurred (Gaussian, sigma 0.1 to max(1, size/112) pixels)', max: 1 },
};

const ALIASES: Record<string, keyof typeof AUGMENT_ITEMS> = { color: 'colour', gray: 'grey' };

export type AugmentSpec = Partial<Record<keyof typeof AUGMENT_ITEMS, number>>;

/** Parses a --augment list; '' and 'none' are today's augmentation. One clear line on bad input. */
export function parseAugmentSpec(text: string): AugmentSpec {
  const spec: AugmentSpec = {};
  const t = text.trim();
  if (t === '' || t === 'none') return spec;
  for (const part of t.split(',')) {
    const [rawName, rawValue, extra] = part.trim().split('=');
    const name = ALIASES[rawName!] ?? rawName!;
    const item = AUGMENT_ITEMS[name as keyof typeof AUGMENT_ITEMS];
    if (!item || extra !== undefined) throw new DataError(`--augment ${text}: "${part}" is not one of ${Object.keys(AUGMENT_ITEMS).map((k) => `${k}[=value]`).join(', ')}; e.g. --augment colour,grey,blur`);
    if (name in spec) throw new DataError(`--augment ${text}: ${name} is named twice; give it once`);
    const value = rawValue === undefined ? item.dflt : Number(rawValue);
    if (value === undefined) throw new DataError(`--augment ${text}: ${name} needs a value (${item.means}), e.g. ${name}=0.3`);
    if (!(value > 0 && value <= item.max)) throw new DataError(`--augment ${text}: ${name}=${rawValue} is out of range; give a number in (0, ${item.max}]: ${item.means}`);
    spec[name as keyof typeof AUGMENT_ITEMS] = value;
  }
  return spec;
}

/** The canonical spelling (what run.json records): items in a fixed order, each with its value; '' for today's. */
export function formatAugmentSpec(spec: AugmentSpec): string {
  return (Object.keys(AUGMENT_ITEMS) as (keyof typeof AUGMENT_ITEMS)[])
    .filter((k) => spec[k] !== undefined && !(k === 'scale' && spec[k] === DEFAULT_AUGMENT.scale[0]))
    .map((k) => `${k}=${spec[k]}`)
    .join(',');
}

/** The loader's augmentation for a spec: today's crop and flip, plus what it names. */
export function augmentConfig(spec: AugmentSpec): AugmentConfig {
  return {
    ...DEFAULT_AUGMENT,
    ...(spec.scale !== undefined ? { scale: [spec.scale, 1] as const } : {}),
    ...(spec.colour !== undefined ? { colour: { strength: spec.colour, p: COLOUR_P } } : {}),
    ...(spec.grey !== undefined ? { grey: spec.grey } : {}),
    ...(spec.blur !== undefined ? { blur: { p: spec.blur } } : {}),
  };
}
