// A smaller built set cut from a built one: every k-th pair of a split, spread evenly over it (so
// every art style and source is in it), written as a built dataset folder of its own (manifest,
// items, the smallest stored rasters, the tokenizer, the licences), which `coca train --data`
// reads and the train-in-a-tab page ships.
import fs from 'node:fs';
import path from 'node:path';
import { DataError } from './errors.ts';
import { resolveDataPath } from './load.ts';
import { imageFile, readItems, readManifest, writeItems, type Manifest } from './store.ts';

export interface Subset {
  dir: string;
  pairs: number;
  /** Bytes of every file written. */
  bytes: number;
}

/** Writes `pairs` pairs of `from`'s `split` (a built set's name or folder) as the train split of a new set in `out`. */
export function writeSubset(from: string, out: string, pairs: number, split = 'train'): Subset {
  const dir = resolveDataPath(from);
  const m = readManifest(dir);
  if (!(split in m.splits)) throw new DataError(`${m.name} has no split '${split}'; it has ${Object.keys(m.splits).join(', ')}`);
  const items = readItems(dir, split);
  if (!Number.isInteger(pairs) || pairs < 1 || pairs > items.length) throw new DataError(`a subset of ${pairs} pairs cannot be cut from ${m.name} ${split} (${items.length} pairs); ask for 1 to ${items.length}`);
  const side = Math.min(...m.imageSizes);
  const plane = side * side * 3;
  const all = fs.readFileSync(imageFile(dir, split, side));
  const picks = Array.from({ length: pairs }, (_, i) => Math.floor((i * items.length) / pairs));
  const pixels = new Uint8Array(pairs * plane);
  picks.forEach((k, i) => pixels.set(all.subarray(k * plane, (k + 1) * plane), i * plane));
  fs.mkdirSync(out, { recursive: true });
  const manifest: Manifest = {
    ...m,
    name: `${m.name}-${pairs}`,
    imageSizes: [side],
    splits: { train: { count: pairs, about: `${pairs} pairs of ${m.name} ${split}, every ${(items.length / pairs).toFixed(1)}th` } },
    classes: undefined,
  };
  fs.writeFileSync(path.join(out, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  writeItems(out, 'train', picks.map((k) => items[k]!));
  fs.writeFileSync(imageFile(out, 'train', side), pixels);
  for (const f of ['tokenizer.json', 'LICENSES.md']) if (fs.existsSync(path.join(dir, f))) fs.copyFileSync(path.join(dir, f), path.join(out, f));
  const bytes = fs.readdirSync(out).reduce((n, f) => n + fs.statSync(path.join(out, f)).size, 0);
  return { dir: out, pairs, bytes };
}
