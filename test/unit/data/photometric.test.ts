// Colour jitter, greyscale and blur (src/data/photometric.ts) on a 2×2 picture worked by hand
// with torchvision's formulas; their draws (reproducible, none when off, after the crop's); the
// off path byte for byte today's; the --augment spelling; worker threads drawing as the loader
// thread does.
import { describe, expect, it } from 'vitest';
import { DEFAULT_AUGMENT, randomCrop, tensorise, toTensor, type AugmentConfig, type CropTask } from '../../../src/data/augment.ts';
import { augmentConfig, formatAugmentSpec, parseAugmentSpec } from '../../../src/data/augment-spec.ts';
import { loadDataset } from '../../../src/data/load.ts';
import { BatchLoader, type Batch } from '../../../src/data/loader.ts';
import { applyPhotometric, blurSigmaMax, drawPhotometric, gaussianTaps, reflectIndex, type PhotometricDraw } from '../../../src/data/photometric.ts';
import { Rng } from '../../../src/data/rng.ts';
import { trainTokenizer } from '../../../src/data/tokenizer.ts';
import { patternPixels, tempDir, testPreprocess, writeStoredFixture } from './fixtures.ts';

// Pixels red, green, blue, white as three planes of [0, 1] values.
const R = [1, 0, 0, 1];
const G = [0, 1, 0, 1];
const B = [0, 0, 1, 1];
const picture = () => Float32Array.from([...R, ...G, ...B]);
// torchvision's luma (0.2989, 0.587, 0.114) of each pixel.
const L = [0.2989, 0.587, 0.114, 0.9999];

const none: PhotometricDraw = { jitter: [], grey: false, sigma: 0 };

function applied(d: Partial<PhotometricDraw>): number[] {
  const x = picture();
  applyPhotometric(x, 0, 2, { ...none, ...d });
  return [...x];
}

function expectNear(got: number[], want: number[]): void {
  expect(got.length).toBe(want.length);
  got.forEach((g, i) => expect(g, `value ${i}`).toBeCloseTo(want[i]!, 6));
}

describe('photometric transforms on a 2×2 picture', () => {
  it('brightness 0.5 halves every value', () => {
    expectNear(applied({ jitter: [{ op: 'brightness', factor: 0.5 }] }), [...R, ...G, ...B].map((v) => v / 2));
  });

  it('brightness 1.5 clamps at 1', () => {
    expectNear(applied({ jitter: [{ op: 'brightness', factor: 1.5 }] }), [...R, ...G, ...B]);
  });

  it('contrast 0.5 pulls every value halfway to the mean luma 0.49995', () => {
    const m = (0.2989 + 0.587 + 0.114 + 0.9999) / 4;
    expectNear(applied({ jitter: [{ op: 'contrast', factor: 0.5 }] }), [...R, ...G, ...B].map((v) => 0.5 * v + 0.5 * m));
  });

  it('saturation 0.5 pulls each pixel halfway to its own luma; 0 makes it grey', () => {
    expectNear(applied({ jitter: [{ op: 'saturation', factor: 0.5 }] }), [R, G, B].flatMap((ch) => ch.map((v, i) => 0.5 * v + 0.5 * L[i]!)));
    expectNear(applied({ jitter: [{ op: 'saturation', factor: 0 }] }), [...L, ...L, ...L]);
  });

  it('the jitter ops apply in the order drawn', () => {
    const m = (0.2989 + 0.587 + 0.114 + 0.9999) / 4;
    // Brightness 2 leaves this picture as it is (every value 0 or 1, clamped), then contrast 0.5.
    expectNear(applied({ jitter: [{ op: 'brightness', factor: 2 }, { op: 'contrast', factor: 0.5 }] }).slice(0, 4), R.map((v) => 0.5 * v + 0.5 * m));
    // Contrast 0.5 first, then every value doubled and clamped.
    expectNear(applied({ jitter: [{ op: 'contrast', factor: 0.5 }, { op: 'brightness', factor: 2 }] }).slice(0, 4), R.map((v) => Math.min(1, 2 * (0.5 * v + 0.5 * m))));
  });

  it('greyscale puts each pixel’s luma in all three channels', () => {
    expectNear(applied({ grey: true }), [...L, ...L, ...L]);
  });

  it('blur sigma 0.3 (taps at −1, 0, 1, reflect padding) spreads one lit pixel as worked by hand', () => {
    const w = Math.exp(-1 / (2 * 0.09));
    const t0 = 1 / (1 + 2 * w);
    const t1 = w / (1 + 2 * w);
    const x = Float32Array.from([1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    applyPhotometric(x, 0, 2, { ...none, sigma: 0.3 });
    // Row pass: [t0, 2·t1] (the neighbour outside the picture mirrors onto the other pixel); then the column pass.
    expectNear([...x.subarray(0, 4)], [t0 * t0, 2 * t1 * t0, 2 * t1 * t0, 4 * t1 * t1]);
    expectNear([...x.subarray(4)], new Array(8).fill(0));
  });

  it('reflect padding mirrors without repeating the edge, however far out', () => {
    expect([-2, -1, 0, 3, 4, 5].map((i) => reflectIndex(i, 4))).toEqual([2, 1, 0, 3, 2, 1]);
    expect([-3, -2, -1, 2, 3].map((i) => reflectIndex(i, 2))).toEqual([1, 0, 1, 0, 1]);
    expect(reflectIndex(-5, 1)).toBe(0);
  });

  it('taps: radius ceil(3σ), symmetric, summing to 1', () => {
    const t = gaussianTaps(0.7);
    expect(t.length).toBe(2 * 3 + 1);
    expect(t.reduce((a, b) => a + b)).toBeCloseTo(1, 12);
    expect(t[0]! / t[3]!).toBeCloseTo(Math.exp(-9 / (2 * 0.49)), 12);
    expect(t[1]).toBe(t[5]);
  });

  it('works at an offset, leaving the rest of the buffer alone', () => {
    const x = new Float32Array(2 + 12 + 2).fill(7);
    x.set(picture(), 2);
    applyPhotometric(x, 2, 2, { ...none, grey: true });
    expectNear([...x], [7, 7, ...L, ...L, ...L, 7, 7]);
  });
});

describe('photometric draws', () => {
  const cfg: AugmentConfig = { ...DEFAULT_AUGMENT, colour: { strength: 0.4, p: 0.8 }, grey: 0.2, blur: { p: 0.5 } };

  it('are the same for the same seed and differ across seeds', () => {
    const draws = (seed: number) => Array.from({ length: 20 }, (_, k) => drawPhotometric(cfg, 32, new Rng(seed * 1000 + k)));
    expect(draws(1)).toEqual(draws(1));
    expect(draws(1)).not.toEqual(draws(2));
  });

  it('take nothing from the generator when every transform is off', () => {
    const rng = new Rng(9);
    expect(drawPhotometric(DEFAULT_AUGMENT, 32, rng)).toEqual(none);
    expect(rng.next()).toBe(new Rng(9).next());
  });

  it('keep factors, probabilities and sigma in their ranges over many pictures', () => {
    let jittered = 0;
    let grey = 0;
    let blurred = 0;
    const ops = new Set<string>();
    for (let k = 0; k < 2000; k++) {
      const d = drawPhotometric(cfg, 32, new Rng(k));
      if (d.jitter.length) {
        jittered++;
        expect(d.jitter.map((j) => j.op).sort()).toEqual(['brightness', 'contrast', 'saturation']);
        ops.add(d.jitter.map((j) => j.op).join());
        for (const j of d.jitter) expect(j.factor >= 0.6 && j.factor <= 1.4).toBe(true);
      }
      if (d.grey) grey++;
      if (d.sigma) {
        blurred++;
        // At 32 px the ceiling is 1 px (blurSigmaMax).
        expect(d.sigma >= 0.1 && d.sigma <= 1).toBe(true);
      }
    }
    // Binomial(2000, p): within 5 sd.
    expect(Math.abs(jittered - 1600)).toBeLessThan(5 * Math.sqrt(2000 * 0.8 * 0.2));
    expect(Math.abs(grey - 400)).toBeLessThan(5 * Math.sqrt(2000 * 0.2 * 0.8));
    expect(Math.abs(blurred - 1000)).toBeLessThan(5 * Math.sqrt(2000 * 0.25));
    expect(ops.size, 'all 6 orders occur').toBe(6);
  });

  it('blur sigma reaches SimCLR’s 2 px at 224 and never falls below a 1 px ceiling', () => {
    expect(blurSigmaMax(224)).toBe(2);
    expect(blurSigmaMax(32)).toBe(1);
    expect(blurSigmaMax(448)).toBe(4);
  });
});

describe('tensorise with photometric transforms', () => {
  const img = { data: patternPixels(9, 7, 3), width: 9, height: 7 };
  const pre = testPreprocess(5);
  const task = (augment: AugmentConfig, seed = 11): CropTask => ({ train: true, seed, noFlip: false, augment, pre });

  it('off: byte for byte the crop, flip and normalisation of today', () => {
    for (let seed = 0; seed < 10; seed++) {
      const got = new Float32Array(75);
      tensorise(img, task(DEFAULT_AUGMENT, seed), got, 0);
      const want = new Float32Array(75);
      toTensor(img, randomCrop(img, DEFAULT_AUGMENT, new Rng(seed)), 5, pre.mean, pre.std, want);
      expect([...got]).toEqual([...want]);
    }
  });

  it('on: the same crop as off, then the transform, then the normalisation', () => {
    // Greyscale on every picture: the crop's [0, 1] values, greyed, normalised.
    const got = new Float32Array(75);
    tensorise(img, task({ ...DEFAULT_AUGMENT, grey: 1 }), got, 0);
    const unit = new Float32Array(75);
    toTensor(img, randomCrop(img, DEFAULT_AUGMENT, new Rng(11)), 5, [0, 0, 0], [1, 1, 1], unit);
    for (let i = 0; i < 25; i++) {
      const luma = 0.2989 * unit[i]! + 0.587 * unit[25 + i]! + 0.114 * unit[50 + i]!;
      for (let c = 0; c < 3; c++) expect(got[c * 25 + i]).toBeCloseTo((luma - 0.5) / 0.25, 5);
    }
  });

  it('evaluation is untouched by the training augmentations', () => {
    const a = new Float32Array(75);
    const b = new Float32Array(75);
    tensorise(img, { ...task({ ...DEFAULT_AUGMENT, grey: 1, blur: { p: 1 } }), train: false }, a, 0);
    tensorise(img, { ...task(DEFAULT_AUGMENT), train: false }, b, 0);
    expect([...a]).toEqual([...b]);
  });
});

describe('--augment', () => {
  it('names each transform with its default, or a value, in one canonical spelling', () => {
    expect(formatAugmentSpec(parseAugmentSpec('blur,grey,colour'))).toBe('colour=0.4,grey=0.2,blur=0.5');
    expect(formatAugmentSpec(parseAugmentSpec('color=0.3, gray=0.1'))).toBe('colour=0.3,grey=0.1');
    expect(formatAugmentSpec(parseAugmentSpec('scale=0.5'))).toBe('');
    expect(formatAugmentSpec(parseAugmentSpec('scale=0.25,blur=1'))).toBe('scale=0.25,blur=1');
    expect(parseAugmentSpec('none')).toEqual({});
    expect(parseAugmentSpec('')).toEqual({});
  });

  it('gives the loader today’s crop and flip plus what it names', () => {
    expect(augmentConfig({})).toEqual(DEFAULT_AUGMENT);
    expect(augmentConfig(parseAugmentSpec('scale=0.3,colour,grey=0.5,blur=0.25'))).toEqual({ ...DEFAULT_AUGMENT, scale: [0.3, 1], colour: { strength: 0.4, p: 0.8 }, grey: 0.5, blur: { p: 0.25 } });
  });

  it('refuses unknown names, repeats, missing and out-of-range values in one line', () => {
    expect(() => parseAugmentSpec('colour,sharpen')).toThrow(/"sharpen" is not one of scale=V|sharpen/);
    expect(() => parseAugmentSpec('grey,grey')).toThrow(/named twice/);
    expect(() => parseAugmentSpec('scale')).toThrow(/scale needs a value/);
    expect(() => parseAugmentSpec('grey=1.5')).toThrow(/out of range.*\(0, 1\]/);
    expect(() => parseAugmentSpec('blur=0')).toThrow(/out of range/);
    expect(() => parseAugmentSpec('colour=x')).toThrow(/out of range/);
    expect(() => parseAugmentSpec('colour=0.1=2')).toThrow(/not one of/);
  });
});

describe('loader with photometric augmentations', () => {
  it('worker threads draw the same pictures as the loader thread, and they differ from unaugmented ones', async () => {
    const tok = trainTokenizer(Array.from({ length: 30 }, (_, i) => `picture ${i} pattern number ${i}`), 300);
    const dir = tempDir();
    await writeStoredFixture(dir, 21, 16);
    const ds = await loadDataset(dir, { split: 'train', imageSize: 12 });
    const augment = augmentConfig(parseAugmentSpec('colour=0.8,grey=0.5,blur=0.5'));
    const opts = { batchSize: 5, contextLength: 12, tokenizer: tok, preprocess: testPreprocess(12), seed: 4 };
    const run = async (workers: number, aug?: AugmentConfig): Promise<Batch[]> => {
      const l = new BatchLoader(ds, { ...opts, workers, ...(aug ? { augment: aug } : {}) });
      const out: Batch[] = [];
      for (let i = 0; i < 3; i++) out.push(await l.next());
      await l.close();
      return out;
    };
    const inThread = await run(0, augment);
    const threaded = await run(2, augment);
    const plain = await run(0);
    inThread.forEach((b, i) => {
      expect(Array.from(threaded[i]!.indices)).toEqual(Array.from(b.indices));
      expect(Array.from(threaded[i]!.images)).toEqual(Array.from(b.images));
      expect(Array.from(plain[i]!.indices), 'augmentation leaves the order alone').toEqual(Array.from(b.indices));
    });
    const changed = inThread.flatMap((b, i) => Array.from(b.images).filter((v, k) => v !== plain[i]!.images[k])).length;
    expect(changed).toBeGreaterThan(inThread[0]!.images.length);
  });
});
