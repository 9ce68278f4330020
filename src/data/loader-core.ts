// Batches of fixed shape for training and evaluation, without anything Node-only: order, caption
// choice and augmentation are pure functions of (seed, epoch, position), so a loader restored to a
// saved state yields exactly the batches an uninterrupted run would have, and a tab drawing from
// an in-memory copy of a built set (memory-set.ts) draws the batches `coca train` draws from the
// folder. The next batches are prepared while the caller uses the current one (`prefetch`).
// loader.ts adds worker threads and pictures read from files (BatchLoader).
import { DEFAULT_AUGMENT, tensorise, type AugmentConfig, type CropTask } from './augment.ts';
import type { Dataset } from './dataset.ts';
import { DataError } from './errors.ts';
import type { RgbImage } from './image.ts';
import { mixSeed, permutation, Rng } from './rng.ts';
import type { TokenizerCore } from './tokenizer-core.ts';
import { captionChoices, DEFAULT_LANGUAGE, saysHandedness } from './lang.ts';
import type { ImagePreprocess } from './preprocess.ts';

export interface LoaderState {
  seed: number;
  epoch: number;
  /** Items of this epoch already handed out. */
  index: number;
  /** Loaders streaming WebDataset shards (shard-loader.ts): where in the shards the stream stands. */
  stream?: StreamPosition;
}

/** A shard stream's position: the place its shuffle buffer was filled from, and how much of it was taken. */
export interface StreamPosition {
  /** Shards in the list (a restored loader must read the same list). */
  shards: number;
  /** Position in this epoch's shard order where the current buffer started, and the sample in that shard. */
  shard: number;
  sample: number;
  /** Pairs of that buffer already handed out. */
  taken: number;
}

export interface BatchLoaderOptions {
  batchSize: number;
  /** Token row length, [SOT] and [EOT] included. */
  contextLength: number;
  tokenizer: Pick<TokenizerCore, 'encodeBatch' | 'languages'>;
  /** The model's preprocessing: every picture reaches the model as it says, whatever the dataset. */
  preprocess: ImagePreprocess;
  seed?: number;
  /** Shuffle, random crops, flips and a random caption per image; otherwise fixed order, full image, first caption. */
  train?: boolean;
  augment?: AugmentConfig;
  /** Batches prepared ahead of the one returned. */
  prefetch?: number;
  /**
   * Worker threads preparing images; 0 prepares them on this thread. Default: none on machines
   * with fewer than 4 cores (there the GPU driver or lavapipe needs them), else up to 4.
   */
  workers?: number;
  /** Stop at an image that cannot be decoded instead of leaving it out (evaluation) or substituting the next item (training). */
  strict?: boolean;
  /** Told about the first image that could not be decoded (with --strict, it throws); decodeSummary() counts them all. */
  warn?: (line: string) => void;
}

export interface Batch {
  /** [rows, 3, imageSize, imageSize], prepared and normalised as the model's preprocessing says. */
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
  /** Its language ('en' unless the dataset and the tokenizer both have languages). */
  langs: string[];
  /** Where this batch started. */
  epoch: number;
  index: number;
  /** The last batch of an evaluation pass may be shorter (and any whose pictures could not be decoded). */
  last: boolean;
}

export type RowResult = { ok: true } | { ok: false; message: string };

export class BatchLoaderCore {
  protected readonly opts: Required<Omit<BatchLoaderOptions, 'warn'>> & Pick<BatchLoaderOptions, 'warn'>;
  private epoch = 0;
  private index = 0;
  private order: { epoch: number; perm: Uint32Array } | undefined;
  /** Batches being prepared, with the position each starts at (what state() reports). */
  private queue: { epoch: number; index: number; batch: Promise<Batch> }[] = [];
  private failed = new Set<number>();
  /** Where the first undecodable pictures are, for the summary. */
  private firstFailed: string[] = [];
  constructor(
    readonly dataset: Dataset,
    options: BatchLoaderOptions,
  ) {
    this.opts = { seed: 0, train: true, augment: DEFAULT_AUGMENT, prefetch: 2, strict: false, workers: 0, ...options };
    if (dataset.length === 0) throw new DataError(`dataset ${dataset.name} split ${dataset.split} is empty; nothing to load`);
    if (this.opts.train && dataset.length < this.opts.batchSize) {
      throw new DataError(`split ${dataset.split} of ${dataset.name} has ${dataset.length} items, fewer than the batch size ${this.opts.batchSize}; use a smaller batch`);
    }
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
      const batch = this.make();
      // A batch that fails while still queued is reported when next() hands it out, not before.
      batch.catch(() => {});
      this.queue.push({ ...at, batch });
    }
    return this.queue.shift()!.batch;
  }

  /** Items whose image could not be decoded so far. */
  get skipped(): number {
    return this.failed.size;
  }

  /** One line counting the pictures that could not be decoded, with the first few; null if none. */
  decodeSummary(): string | null {
    const n = this.failed.size;
    if (n === 0) return null;
    const d = this.dataset;
    const what = this.opts.train ? `${n} picture${n > 1 ? 's' : ''} could not be decoded in ${d.name} ${d.split} and ${n > 1 ? 'were' : 'was'} replaced by other items` : `${n} of ${d.length} pictures could not be decoded in ${d.name} ${d.split} and ${n > 1 ? 'were' : 'was'} left out`;
    return `warning: ${what} (${this.firstFailed.join(', ')}${n > this.firstFailed.length ? ', …' : ''}); pass --strict to stop at the first`;
  }

  /** Releases what preparing batches holds (worker threads in BatchLoader); nothing here. */
  async close(): Promise<void> {}

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

  /** Languages besides English that training draws captions in: those of the dataset the tokenizer has a token for. */
  private get otherLanguages(): string[] {
    const { dataset, opts } = this;
    if (!dataset.captionsIn) return [];
    return (dataset.languages ?? []).filter((l) => l !== DEFAULT_LANGUAGE && opts.tokenizer.languages.includes(l));
  }

  /** Training: any caption of the item in any language both have (English only otherwise); evaluation: the first English one. */
  private caption(index: number, epoch: number, pos: number): { text: string; lang: string } {
    const english = this.dataset.captions(index);
    if (!this.opts.train) return { text: english[0]!, lang: DEFAULT_LANGUAGE };
    const caps = captionChoices(english, this.otherLanguages, (lang) => this.dataset.captionsIn!(index, lang));
    return caps[new Rng(mixSeed(this.opts.seed, epoch, pos, 0xa11)).int(caps.length)]!;
  }

  private async assemble(epoch: number, start: number, rows: number, last: boolean): Promise<Batch> {
    const { contextLength, tokenizer } = this.opts;
    const n = this.dataset.length;
    const size = this.opts.preprocess.size;
    const plane = 3 * size * size;
    const perm = this.permutation(epoch);
    const images = new Float32Array(rows * plane);
    const indices = Uint32Array.from({ length: rows }, (_, r) => perm[start + r]!);
    const captions: string[] = new Array(rows);
    const langs: string[] = new Array(rows);
    const attempts = new Uint32Array(rows);
    // Rows whose item could not be read move on to the next item (the same one on every run).
    let todo = Array.from({ length: rows }, (_, r) => r);
    // Evaluation leaves out at once an item known from an earlier pass not to decode (a rewound
    // validation loader): moving that row on would score its substitute twice.
    const known = this.opts.train ? [] : todo.filter((r) => this.failed.has(indices[r]!));
    todo = todo.filter((r) => !known.includes(r));
    // At least once: an evaluation batch whose every row is known not to decode still returns (empty).
    do {
      for (const r of todo) {
        while (this.failed.has(indices[r]!) && attempts[r]! < n) {
          indices[r] = (indices[r]! + 1) % n;
          attempts[r]!++;
        }
        if (attempts[r]! >= n) throw new DataError(`no image of ${this.dataset.name} split ${this.dataset.split} could be decoded`);
        ({ text: captions[r], lang: langs[r] } = this.caption(indices[r]!, epoch, start + r));
      }
      const results = await this.prepare(todo, indices, captions, langs, epoch, start, images);
      const again: number[] = [];
      results.forEach((res, k) => {
        if (res.ok) return;
        const r = todo[k]!;
        if (this.opts.strict) throw new DataError(`${res.message} (--strict stops at the first picture that cannot be decoded)`);
        const fresh = !this.failed.has(indices[r]!);
        this.failed.add(indices[r]!);
        if (fresh && this.firstFailed.length < 3) this.firstFailed.push(this.dataset.meta(indices[r]!).id);
        // Batches prepared in parallel may meet the same bad image; tell about the first once.
        if (fresh && this.failed.size === 1) this.opts.warn?.(`${res.message}; ${this.opts.train ? 'using the next item in its place' : 'leaving it out'} (pass --strict to stop instead)`);
        again.push(r);
      });
      // Evaluation leaves such items out (a substitute would be scored twice); training keeps
      // its batch shape by drawing the next item.
      if (!this.opts.train) return this.withoutRows(new Set([...known, ...again]), { images, indices, captions, langs, rows, epoch, start, last });
      todo = again;
    } while (todo.length > 0);
    return { images, tokens: tokenizer.encodeBatch(captions, contextLength, langs), rows, imageSize: size, contextLength, indices, captions, langs, epoch, index: start, last };
  }

  private withoutRows(drop: Set<number>, b: { images: Float32Array; indices: Uint32Array; captions: string[]; langs: string[]; rows: number; epoch: number; start: number; last: boolean }): Batch {
    const { contextLength, tokenizer } = this.opts;
    const size = this.opts.preprocess.size;
    const plane = 3 * size * size;
    const keep = Array.from({ length: b.rows }, (_, r) => r).filter((r) => !drop.has(r));
    const images = new Float32Array(keep.length * plane);
    keep.forEach((r, k) => images.set(b.images.subarray(r * plane, (r + 1) * plane), k * plane));
    const captions = keep.map((r) => b.captions[r]!);
    const langs = keep.map((r) => b.langs[r]!);
    const indices = Uint32Array.from(keep, (r) => b.indices[r]!);
    return { images, tokens: tokenizer.encodeBatch(captions, contextLength, langs), rows: keep.length, imageSize: size, contextLength, indices, captions, langs, epoch: b.epoch, index: b.start, last: b.last };
  }

  protected task(noFlip: boolean, epoch: number, pos: number): CropTask {
    return { train: this.opts.train, seed: mixSeed(this.opts.seed, epoch, pos, 0xc40), noFlip, augment: this.opts.augment, pre: this.opts.preprocess };
  }

  /** Prepares the given rows into `images`; one result per row, in order. */
  protected async prepare(rows: number[], indices: Uint32Array, captions: string[], langs: string[], epoch: number, start: number, images: Float32Array): Promise<RowResult[]> {
    const plane = 3 * this.opts.preprocess.size * this.opts.preprocess.size;
    const tasks = this.tasks(rows, indices, captions, langs, epoch, start);
    const mode = this.opts.train ? 'train' : 'eval';
    return Promise.all(
      rows.map(async (r, k): Promise<RowResult> => {
        try {
          tensorise(await this.picture(indices[r]!, mode), tasks[k]!, images, r * plane);
          return { ok: true };
        } catch (e) {
          if (!(e instanceof DataError)) throw e;
          return { ok: false, message: e.message };
        }
      }),
    );
  }

  /** The rows' crop tasks: their seeds, and no mirror where the caption names a side. */
  protected tasks(rows: number[], indices: Uint32Array, captions: string[], langs: string[], epoch: number, start: number): CropTask[] {
    const d = this.dataset;
    return rows.map((r) => this.task(saysHandedness({ text: captions[r]!, lang: langs[r]! }, d.captions(indices[r]!)), epoch, start + r));
  }

  /** Item i's picture as the dataset stores it. */
  protected picture(i: number, mode: 'train' | 'eval'): Promise<RgbImage> {
    return this.dataset.image(i, mode);
  }
}
