// One split of a built dataset (store.ts's folder: manifest.json, <split>.jsonl, <split>.<S>px.u8)
// held in memory, from bytes a page fetched: the same items, captions and stored rasters that
// StoredDataset reads from the files, so a loader over it draws the batches `coca train` draws.
import type { Dataset, ItemMeta } from './dataset.ts';
import { DataError } from './errors.ts';
import type { RgbImage } from './image.ts';
import { DEFAULT_LANGUAGE } from './lang.ts';
import type { Manifest, StoredItem } from './store.ts';

export class MemoryDataset implements Dataset {
  readonly length: number;
  readonly imageSize: number;
  readonly languages: readonly string[];
  readonly name: string;
  private readonly side: number;

  /** `pixels`: the split's stored rasters at `manifest.imageSizes`' smallest side, item after item. */
  constructor(
    readonly manifest: Manifest,
    readonly split: string,
    private readonly items: readonly StoredItem[],
    private readonly pixels: Uint8Array,
  ) {
    this.name = manifest.name;
    this.length = items.length;
    this.side = Math.min(...manifest.imageSizes);
    this.imageSize = this.side;
    this.languages = manifest.languages ?? [DEFAULT_LANGUAGE];
    const want = items.length * this.side * this.side * 3;
    if (pixels.length !== want) throw new DataError(`${manifest.name} ${split}: ${pixels.length} bytes of pictures, expected ${want} (${items.length} items of ${this.side}×${this.side}); build the set again`);
  }

  /** From the files' contents: manifest.json and <split>.jsonl as text, the .u8 rasters as bytes. */
  static parse(manifestJson: string, jsonl: string, pixels: Uint8Array, split: string): MemoryDataset {
    let m: Manifest;
    let items: StoredItem[];
    try {
      m = JSON.parse(manifestJson) as Manifest;
      items = jsonl.split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l) as StoredItem);
    } catch (e) {
      throw new DataError(`the training set is damaged (${(e as Error).message}); build the site again`);
    }
    if (m.format !== 'coca-dataset' || !Array.isArray(m.imageSizes) || !(split in (m.splits ?? {}))) throw new DataError(`the training set's manifest.json is not a coca dataset with a ${split} split; build the site again`);
    return new MemoryDataset(m, split, items, pixels);
  }

  captions(i: number): readonly string[] {
    return this.item(i).captions;
  }

  captionsIn(i: number, lang: string): readonly string[] {
    const it = this.item(i);
    return lang === DEFAULT_LANGUAGE ? it.captions : (it.i18n?.[lang] ?? []);
  }

  meta(i: number): ItemMeta {
    const { captions: _c, i18n: _t, ...meta } = this.item(i);
    return meta;
  }

  async image(i: number): Promise<RgbImage> {
    this.item(i);
    const n = this.side * this.side * 3;
    return { data: this.pixels.slice(i * n, (i + 1) * n), width: this.side, height: this.side };
  }

  close(): void {}

  private item(i: number): StoredItem {
    const it = this.items[i];
    if (it === undefined) throw new RangeError(`item ${i} out of range 0..${this.length - 1}`);
    return it;
  }
}
