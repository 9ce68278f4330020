// src/data/augment-spec.ts (`coca train --augment`) against its header and --help text: names
// with optional values, two aliases, '' and 'none' for today's augmentation, ranges (0, 1], one
// canonical spelling (fixed order, scale at today's 0.5 left out), and each refusal's whole line
// written out here; and the loader's config, compared strictly (a key holding undefined is a key).
import { describe, expect, it } from 'vitest';
import { DEFAULT_AUGMENT } from '../../../src/data/augment.ts';
import { augmentConfig, formatAugmentSpec, parseAugmentSpec } from '../../../src/data/augment-spec.ts';
import { DataError } from '../../../src/data/errors.ts';

function refusal(text: string): string {
  try {
    parseAugmentSpec(text);
  } catch (e) {
    expect(e).toBeInstanceOf(DataError);
    return (e as Error).message;
  }
  throw new Error(`--augment ${text} was accepted`);
}

describe('parseAugmentSpec', () => {
  it("'', blanks and 'none' (trimmed) are today's augmentation", () => {
    for (const t of ['', '   ', 'none', ' none\t']) expect(parseAugmentSpec(t), JSON.stringify(t)).toStrictEqual({});
  });

  it('each name alone takes its default; scale has none', () => {
    expect(parseAugmentSpec('colour')).toStrictEqual({ colour: 0.4 });
    expect(parseAugmentSpec('grey')).toStrictEqual({ grey: 0.2 });
    expect(parseAugmentSpec('blur')).toStrictEqual({ blur: 0.5 });
    expect(parseAugmentSpec('color,gray')).toStrictEqual({ colour: 0.4, grey: 0.2 });
  });

  it('values, spaces around items, and the bounds of (0, 1]', () => {
    expect(parseAugmentSpec(' scale=1 , grey=1,blur=0.001 ')).toStrictEqual({ scale: 1, grey: 1, blur: 0.001 });
    expect(parseAugmentSpec('colour=0.25')).toStrictEqual({ colour: 0.25 });
  });

  it('refuses, in one line each', () => {
    const names = 'scale[=value], colour[=value], grey[=value], blur[=value]';
    expect(refusal('colour,sharpen')).toBe(`--augment colour,sharpen: "sharpen" is not one of ${names}; e.g. --augment colour,grey,blur`);
    expect(refusal('sharpen')).toBe(`--augment sharpen: "sharpen" is not one of ${names}; e.g. --augment colour,grey,blur`);
    expect(refusal('none,grey')).toBe(`--augment none,grey: "none" is not one of ${names}; e.g. --augment colour,grey,blur`);
    expect(refusal('grey=0.1=0.2')).toBe(`--augment grey=0.1=0.2: "grey=0.1=0.2" is not one of ${names}; e.g. --augment colour,grey,blur`);
    expect(refusal('grey,grey=2')).toBe('--augment grey,grey=2: grey is named twice; give it once');
    expect(refusal('gray,grey')).toBe('--augment gray,grey: grey is named twice; give it once');
    expect(refusal('scale')).toBe("--augment scale: scale needs a value (the smallest crop, as a share of the picture's area (today's 0.5)), e.g. scale=0.3");
    expect(refusal('grey=1.5')).toBe('--augment grey=1.5: grey=1.5 is out of range; give a number in (0, 1]: the share of pictures turned grey');
    expect(refusal('blur=0')).toBe('--augment blur=0: blur=0 is out of range; give a number in (0, 1]: the share of pictures blurred (Gaussian, sigma 0.1 to max(1, size/112) pixels)');
    expect(refusal('scale=-0.5')).toMatch(/^--augment scale=-0\.5: scale=-0\.5 is out of range; give a number in \(0, 1\]: /);
    expect(refusal('colour=x')).toMatch(/^--augment colour=x: colour=x is out of range; give a number in \(0, 1\]: brightness, contrast and saturation/);
    expect(refusal('grey=')).toMatch(/^--augment grey=: grey= is out of range/);
  });
});

describe('formatAugmentSpec', () => {
  it('writes items in the fixed order scale, colour, grey, blur, each with its value', () => {
    expect(formatAugmentSpec({ blur: 0.5, grey: 0.5, colour: 0.5, scale: 0.25 })).toBe('scale=0.25,colour=0.5,grey=0.5,blur=0.5');
    expect(formatAugmentSpec(parseAugmentSpec('blur=1,gray'))).toBe('grey=0.2,blur=1');
  });

  it("leaves out scale only at today's 0.5, and nothing for an empty spec", () => {
    expect(formatAugmentSpec({ scale: 0.5, grey: 0.5 })).toBe('grey=0.5');
    expect(formatAugmentSpec({ scale: 0.5 })).toBe('');
    expect(formatAugmentSpec({})).toBe('');
  });

  it('reads back as what it wrote', () => {
    const spec = { scale: 0.3, colour: 0.6, blur: 0.9 };
    expect(parseAugmentSpec(formatAugmentSpec(spec))).toStrictEqual(spec);
  });
});

describe('augmentConfig', () => {
  const P = 0.8;
  it('adds only what the spec names to today’s crop and flip', () => {
    expect(augmentConfig({})).toStrictEqual({ scale: [0.5, 1], ratio: [3 / 4, 4 / 3], flip: true });
    expect(augmentConfig({ scale: 0.2 })).toStrictEqual({ ...DEFAULT_AUGMENT, scale: [0.2, 1] });
    expect(augmentConfig({ colour: 0.3 })).toStrictEqual({ ...DEFAULT_AUGMENT, colour: { strength: 0.3, p: P } });
    expect(augmentConfig({ grey: 0.1 })).toStrictEqual({ ...DEFAULT_AUGMENT, grey: 0.1 });
    expect(augmentConfig({ blur: 0.7 })).toStrictEqual({ ...DEFAULT_AUGMENT, blur: { p: 0.7 } });
  });

  it('leaves DEFAULT_AUGMENT itself unchanged', () => {
    augmentConfig({ scale: 0.2, colour: 0.3, grey: 0.1, blur: 0.7 });
    expect(DEFAULT_AUGMENT).toStrictEqual({ scale: [0.5, 1], ratio: [3 / 4, 4 / 3], flip: true });
  });
});
