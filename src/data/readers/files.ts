// A dataset of image files on disk, decoded with sharp when the loader asks for an item (as the
// model's preprocessing says: see prep.ts). image() is for looking at them: contact sheets, export.
import type { Dataset, ItemMeta } from '../dataset.ts';
import { loadShorterSide, loadSquare, TRAIN_DECODE_SCALE, type RgbImage } from '../image.ts';
import type { ImageSource } from '../prep.ts';
import type { RawRecord } from './common.ts';

export class FileDataset implements Dataset {
  readonly length: number;

  constructor(
    readonly name: string,
    readonly split: string,
    readonly imageSize: number,
    private readonly records: RawRecord[],
  ) {
    this.length = records.length;
  }

  captions(i: number): readonly string[] {
    return this.record(i).captions;
  }

  meta(i: number): ItemMeta {
    return { id: this.record(i).image };
  }

  async image(i: number, mode: 'train' | 'eval'): Promise<RgbImage> {
    const input = { path: this.record(i).image };
    if (mode === 'train') return loadShorterSide(input, Math.round(this.imageSize * TRAIN_DECODE_SCALE));
    return { data: await loadSquare(input, this.imageSize, 'cover'), width: this.imageSize, height: this.imageSize };
  }

  source(i: number): ImageSource {
    return { kind: 'file', path: this.record(i).image };
  }

  close(): void {}

  private record(i: number): RawRecord {
    const r = this.records[i];
    if (!r) throw new RangeError(`item ${i} out of range 0..${this.length - 1}`);
    return r;
  }
}
