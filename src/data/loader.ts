// Batches of fixed shape for training and evaluation. Order and augmentation are pure functions
// of (seed, epoch, position), so a loader restored to a saved state yields exactly the batches an
// uninterrupted run would have. Image work for the next batches runs while the caller uses the
// current one (`prefetch`), with decodes spread over sharp's worker threads.
import { DEFAULT_AUGMENT, fullCrop, randomCrop, toTensor, type AugmentConfig } from './augment.ts';
import type { Dataset } from './dataset.ts';
import { DataError } from './errors.ts';
import type { RgbImage } from './image.ts';
import { mixSeed, permutation, Rng } from './rng.ts';
import type { Tokenizer } from './tokenizer.ts';

const HANDED = /\b(left|right)/;

export interface LoaderState {
  seed: number;
  epoch: number;
  /** Items of this epoch already handed out. */
  index: number;
}

export interface BatchLoaderOptions {
  batchSize: number;
  /** Token row length, [SOT] and [EOT] included. */
  contextLength: number;
  tokenizer: Tokenizer;
  seed?: number;
  /** Shuffle, random crops, flips and a random caption per image; otherwise fixed order, full image, first caption. */
  train?: boolean;
  augment?: AugmentConfig;
  /** Batches prepared ahead of the one returned. */
  prefetch?: number;
  /** Stop at an image that cannot be decoded instead of substituting the next item. */
  strict?: boolean;
  /** Told once per loader about images that could not be decoded (with --strict, they throw). */
  warn?: (line: string) => void;
}

export interface Batch {
  /** [rows, 3, imageSize, imageSize], normalised with the dataset's mean/std. */
  images: Float32Array;
  /** [rows, contextLength] token ids: [SOT] ... [EOT] then padId. */
  tokens: Int32Array;
  rows: number;
  imageSize: number;
  contextLength: number;
  /** Dataset index of each row. */
  indices: Uint32Array;
  /** The caption chosen for each row. */
  captions: string[];
  /** Where this batch started. */
  epoch: number;
  index: number;
  /** The last batch of an evaluation pass may be shorter. */
  last: boolean;
}

export class BatchLoader {
  private readonly opts: Required<Omit<BatchLoaderOptions, 'warn'>> & Pick<BatchLoaderOptions, 'warn'>;
  private epoch = 0;
  private index = 0;
  private order: { epoch: number; perm: Uint32Array } | undefined;
  /** Batches being prepared, with the position each starts at (what state() reports). */
  private queue: { epoch: number; index: number; batch: Promise<Batch> }[] = [];
  private failed = new Set<number>();

  constructor(
    readonly dataset: Dataset,
    options: BatchLoaderOptions,
  ) {
    this.opts = { seed: 0, train: true, augment: DEFAULT_AUGMENT, prefetch: 2, strict: false, ...options };
    if (dataset.length === 0) throw new DataError(`dataset ${dataset.name} split ${dataset.split} is empty; nothing to load`);
    if (this.opts.train && dataset.length < this.opts.batchSize) {
      throw new DataError(`split ${dataset.split} of ${dataset.name} has ${dataset.length} items, fewer than the batch size ${this.opts.batchSize}; use a smaller batch`);
    }
    this.epoch = 0;
  }

  /** Batches in one epoch: training drops the partial last batch, evaluation keeps it. */
  get batchesPerEpoch(): number {
    const n = this.dataset.length / this.opts.batchSize;
    return this.opts.train ? Math.floor(n) : Math.ceil(n);
  }

  /** The position of the next batch next() will return (prefetched batches are not counted as used). */
  state(): LoaderState {
    const head = this.queue[0];
    return { seed: this.opts.seed, epoch: head?.epoch ?? this.epoch, index: head?.index ?? this.index };
  }

  restore(s: LoaderState): void {
    if (s.seed !== this.opts.seed) throw new DataError(`loader state was saved with seed ${s.seed}, this loader has seed ${this.opts.seed}; resume with the same seed`);
    this.queue = [];
    this.epoch = s.epoch;
    this.index = s.index;
  }

  /** The next batch; an evaluation loader wraps to the next epoch after its short last batch. */
  next(): Promise<Batch> {
    while (this.queue.length <= this.opts.prefetch) {
      const at = { epoch: this.epoch, index: this.index };
      this.queue.push({ ...at, batch: this.make() });
    }
    return this.queue.shift()!.batch;
  }

  private make(): Promise<Batch> {
    const { batchSize } = this.opts;
    const n = this.dataset.length;
    const epoch = this.epoch;
    const start = this.index;
    const rows = Math.min(batchSize, n - start);
    const last = this.opts.train ? start + 2 * batchSize > n : start + rows >= n;
    if (last) {
      this.epoch++;
      this.index = 0;
    } else {
      this.index += rows;
    }
    return this.assemble(epoch, start, rows, last);
  }

  private permutation(epoch: number): Uint32Array {
    if (this.order?.epoch !== epoch) {
      const n = this.dataset.length;
      const perm = this.opts.train ? permutation(n, new Rng(mixSeed(this.opts.seed, epoch, 0x5eed))) : Uint32Array.from({ length: n }, (_, i) => i);
      this.order = { epoch, perm };
    }
    return this.order.perm;
  }

  private async assemble(epoch: number, start: number, rows: number, last: boolean): Promise<Batch> {
    const { contextLength, tokenizer, train } = this.opts;
    const size = this.dataset.imageSize;
    const plane = 3 * size * size;
    const perm = this.permutation(epoch);
    const images = new Float32Array(rows * plane);
    const indices = new Uint32Array(rows);
    const captions: string[] = new Array(rows);
    await Promise.all(
      Array.from({ length: rows }, async (_, r) => {
        const rng = new Rng(mixSeed(this.opts.seed, epoch, start + r, 0xa11));
        const { index, image } = await this.fetchImage(perm[start + r]!);
        const caps = this.dataset.captions(index);
        captions[r] = train ? caps[rng.int(caps.length)]! : caps[0]!;
        const crop = train ? randomCrop(image, this.opts.augment, rng) : fullCrop(image);
        // A mirrored "person running facing right" would contradict its caption.
        if (HANDED.test(captions[r]!)) crop.flip = false;
        toTensor(image, crop, size, this.dataset.mean, this.dataset.std, images, r * plane);
        indices[r] = index;
      }),
    );
    return { images, tokens: tokenizer.encodeBatch(captions, contextLength), rows, imageSize: size, contextLength, indices, captions, epoch, index: start, last };
  }

  /** Item i's image, or the next decodable item's when it cannot be decoded (deterministically). */
  private async fetchImage(i: number): Promise<{ index: number; image: RgbImage }> {
    const mode = this.opts.train ? 'train' : 'eval';
    for (let k = 0; k < this.dataset.length; k++) {
      const j = (i + k) % this.dataset.length;
      if (this.failed.has(j)) continue;
      try {
        return { index: j, image: await this.dataset.image(j, mode) };
      } catch (e) {
        if (this.opts.strict || !(e instanceof DataError)) throw e;
        // Batches prepared in parallel may meet the same bad image; tell about the first once.
        const fresh = !this.failed.has(j);
        this.failed.add(j);
        if (fresh && this.failed.size === 1) this.opts.warn?.(`${e.message}; using the next item in its place (pass --strict to stop instead)`);
      }
    }
    throw new DataError(`no image of ${this.dataset.name} split ${this.dataset.split} could be decoded`);
  }

  /** Items whose image could not be decoded so far. */
  get skipped(): number {
    return this.failed.size;
  }
}
