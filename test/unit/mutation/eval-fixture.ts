// A built dataset for the eval drivers' tests (captioner.ts, devise.ts, sheet.ts): every picture one
// flat grey, item i of a split the grey 20·i + 10, so a stand-in model can tell from the pixels it is
// given which item it looks at ((v / 255 − 0.5) / 0.25 under testPreprocess), and any mix-up of
// rows, items or batches shows in what it answers.
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { FORMAT, FORMAT_VERSION, ImageWriter, imageFile, writeItems, type StoredItem } from '../../../src/data/store.ts';

export const SIDE = 8;
export const grey = (item: number) => 20 * item + 10;
/** The item a normalised pixel value (testPreprocess: mean 0.5, sd 0.25) came from. */
export const itemOf = (x: number) => Math.round(((x * 0.25 + 0.5) * 255 - 10) / 20) + 0; // + 0: no −0

export interface SplitSpec {
  captions: string[][];
  /** Class names; then item i's label is labels[i]. */
  classes?: string[];
  labels?: number[];
}

export function writeEvalSet(dir: string, splits: Record<string, SplitSpec>): void {
  fs.mkdirSync(dir, { recursive: true });
  const classes: Record<string, string[]> = {};
  for (const [split, s] of Object.entries(splits)) {
    const w = new ImageWriter(imageFile(dir, split, SIDE), SIDE);
    s.captions.forEach((_, i) => w.write(new Uint8Array(SIDE * SIDE * 3).fill(grey(i)), i));
    w.close();
    const items: StoredItem[] = s.captions.map((c, i) => ({ id: `${split}-${i}`, captions: c, ...(s.labels ? { label: s.labels[i] } : {}) }));
    writeItems(dir, split, items);
    if (s.classes) classes[split] = s.classes;
  }
  const manifest = {
    format: FORMAT,
    version: FORMAT_VERSION,
    name: 'evalset',
    imageSizes: [SIDE],
    splits: Object.fromEntries(Object.entries(splits).map(([k, s]) => [k, { count: s.captions.length, about: k }])),
    ...(Object.keys(classes).length ? { classes } : {}),
    mean: [0.5, 0.5, 0.5],
    std: [0.25, 0.25, 0.25],
    seed: 0,
    sources: [],
    build: { seconds: 0, bytes: 0, skipped: 0, at: '', preset: 'fixture' },
    tokenizer: { file: 'tokenizer.json', vocabSize: 0 },
  };
  fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(manifest));
}

/** A PNG whose header reads (so a dataset keeps it) but whose pixels do not: cut inside its image data. */
export async function writeCutPng(file: string): Promise<void> {
  const png = await sharp({ create: { width: 40, height: 40, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma: 60 } } }).png().toBuffer();
  fs.writeFileSync(file, png.subarray(0, png.length - 200));
}
