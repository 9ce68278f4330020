// Training batches streamed from WebDataset shards, never the whole set in memory. Each epoch
// reads the shards in a seeded order; a shuffle buffer of `shuffleBuffer` pairs is filled from
// the stream, permuted (seeded by the epoch and where the buffer started) and handed out whole
// before the next fill. The position (epoch, the shard and sample the buffer started at, pairs
// of it already taken) is all a checkpoint needs: a restored loader reads that shard from that
// sample, fills the same buffer, permutes it the same way and skips what was taken, so it hands
// out exactly the batches an uninterrupted run would have. Batches run across shard and epoch
// boundaries; a pair whose picture cannot be decoded is skipped (counted) and the next one taken.
// The shards are read on this thread (reading is cheap next to decoding); pictures are decoded
// and augmented on the loader's worker threads, as for every other dataset, so batches do not
// depend on how many workers there are.
import { DEFAULT_AUGMENT } from './augment.ts';
import { DataError } from './errors.ts';
import { defaultWorkers, type Batch, type BatchLoaderOptions, type LoaderState } from './loader.ts';
import { readSource, tensorise, type ImageSource, type PrepTask } from './prep.ts';
import { Problems } from './readers/common.ts';
import { pairOf, pairTranslations, readShard, shardsOfSplit, type RawSample, type ShardPair } from './readers/webdataset.ts';
import { mixSeed, permutation, Rng } from './rng.ts';
import { PrepPool } from './workers.ts';
import { captionChoices, DEFAULT_LANGUAGE, saysHandedness, type LangCaption } from './lang.ts';


/** Counts each bad sample once, however many epochs meet it. */
class DistinctProblems extends Problems {
  private seen = new Set<string>();
  override add(kind: string, where: string): void {
    if (this.seen.has(where)) return;
    this.seen.add(where);
    super.add(kind, where);
  }
}

/** Pairs per shuffle buffer unless told: several small shards' worth, a few MB of encoded pictures. */
export const DEFAULT_SHUFFLE_BUFFER = 1000;

export interface ShardLoaderOptions extends BatchLoaderOptions {
  /** Pairs permuted together; 1 keeps the shards' order (the shard order is still shuffled). */
  shuffleBuffer?: number;
  /** json field of the caption when a sample has no txt. */
  captionField?: string;
  /** Receives one-line notes: the first undecodable picture, an unreadable shard. */
  warn?: (line: string) => void;
}

interface Item {
  pair: ShardPair;
  epoch: number;
  /** The item's seed key: its shard (list index) and sample, unique within an epoch. */
  shardId: number;
}

/** The stream of shuffled pairs, positioned as a LoaderState says. */
class Cursor {
  epoch: number;
  private shard: number;
  private sample: number;
  private buffer: Item[] = [];
  private bufferStart = { shard: 0, sample: 0 };
  private taken = 0;
  /** Pairs of the next buffer to pass over (a restored position inside a buffer). */
  private skipOnFill: number;
  private reader: { shard: number; it: AsyncGenerator<RawSample> } | null = null;
  /** Items of this epoch handed out (LoaderState.index). */
  index: number;
  private emptyEpochs = 0;
  private closed = false;

  constructor(
    private readonly l: ShardLoader,
    s: LoaderState,
  ) {
    this.epoch = s.epoch;
    this.index = s.index;
    this.shard = s.stream?.shard ?? 0;
    this.sample = s.stream?.sample ?? 0;
    this.skipOnFill = s.stream?.taken ?? 0;
  }

  position(): LoaderState {
    const inBuffer = this.taken < this.buffer.length;
    const at = inBuffer ? { ...this.bufferStart, taken: this.taken } : { shard: this.shard, sample: this.sample, taken: this.skipOnFill };
    return { seed: this.l.seed, epoch: this.epoch, index: this.index, stream: { shards: this.l.shards.length, ...at } };
  }

  async next(): Promise<Item> {
    while (this.taken >= this.buffer.length) {
      if (this.closed) throw new DataError(`the loader of ${this.l.name} was closed or restored; batches being prepared were dropped`);
      await this.fill();
    }
    this.index++;
    return this.buffer[this.taken++]!;
  }

  private order(epoch: number): Uint32Array {
    const n = this.l.shards.length;
    return this.l.train ? permutation(n, new Rng(mixSeed(this.l.seed, epoch, 0x54a2d))) : Uint32Array.from({ length: n }, (_, i) => i);
  }

  private async fill(): Promise<void> {
    if (this.shard >= this.l.shards.length) {
      this.epoch++;
      this.index = 0;
      this.shard = 0;
      this.sample = 0;
    }
    this.bufferStart = { shard: this.shard, sample: this.sample };
    const epoch = this.epoch;
    const order = this.order(epoch);
    const items: Item[] = [];
    while (items.length < this.l.bufferSize && this.shard < order.length) {
      const shardId = order[this.shard]!;
      if (this.reader?.shard !== this.shard) {
        await this.reader?.it.return(undefined);
        this.reader = { shard: this.shard, it: readShard(this.l.shards[shardId]!, this.l.readOptions) };
      }
      const r = await this.reader.it.next();
      if (this.closed) throw new DataError(`the loader of ${this.l.name} was closed or restored; batches being prepared were dropped`);
      if (r.done) {
        this.reader = null;
        this.shard++;
        this.sample = 0;
        continue;
      }
      // A restored stream starts inside a shard: the samples before the position are read past.
      if (r.value.index < this.sample) continue;
      this.sample = r.value.index + 1;
      const pair = pairOf(r.value, this.l.problems, this.l.captionField);
      if (pair) items.push({ pair, epoch, shardId });
    }
    if (items.length === 0) {
      if (++this.emptyEpochs > 1) throw new DataError(`no usable image–caption pair in the ${this.l.shards.length} shards of ${this.l.name}; see the warnings above`);
      return;
    }
    this.emptyEpochs = 0;
    const perm = this.l.train ? permutation(items.length, new Rng(mixSeed(this.l.seed, epoch, this.bufferStart.shard, this.bufferStart.sample, 0xb0f))) : Uint32Array.from({ length: items.length }, (_, i) => i);
    this.buffer = Array.from(perm, (k) => items[k]!);
    this.taken = Math.min(this.skipOnFill, this.buffer.length);
    this.skipOnFill = 0;
  }

  /** Stops the stream: batches still being prepared from it fail (no one takes them). */
  async close(): Promise<void> {
    this.closed = true;
    const r = this.reader;
    this.reader = null;
    // Not awaited: a read in flight (a slow download) finishes on its own and is dropped.
    void r?.it.return(undefined).catch(() => {});
  }
}

export class ShardLoader {
  readonly seed: number;
  readonly train: boolean;
  readonly bufferSize: number;
  readonly captionField: string | undefined;
  readonly problems: Problems;
  readonly readOptions: { strict: boolean; warn: (line: string) => void };
  private readonly opts: ShardLoaderOptions & { prefetch: number; workers: number };
  private cursor: Cursor;
  /** Where the next batch next() hands out starts. */
  private handed: LoaderState;
  private queue: Promise<{ batch: Batch; end: LoaderState }>[] = [];
  /** Pulls from the stream happen one batch after another, so batches never depend on timing. */
  private chain: Promise<unknown> = Promise.resolve();
  private failedAt = new Set<string>();
  private firstFailed: string[] = [];
  /**
   * Pictures that failed since the last one decoded. A stream has no end to stop at: when this
   * passes twice the distinct failures, some pair failed three times, so a whole epoch went by
   * without one picture decoding, and no later epoch will decode one either.
   */
  private failStreak = 0;
  private pool: PrepPool | undefined;

  constructor(
    readonly shards: readonly string[],
    readonly name: string,
    options: ShardLoaderOptions,
  ) {
    if (shards.length === 0) throw new DataError(`${name} names no shards; check the pattern or list`);
    this.opts = { prefetch: 2, workers: defaultWorkers(), ...options };
    this.seed = options.seed ?? 0;
    this.train = options.train ?? true;
    this.bufferSize = this.train ? Math.max(1, options.shuffleBuffer ?? DEFAULT_SHUFFLE_BUFFER) : 1;
    this.captionField = options.captionField;
    this.problems = new DistinctProblems(name, options.strict ?? false);
    const warn = options.warn ?? ((l: string) => console.warn(`coca: ${l}`));
    // Every epoch meets a bad shard again: it is told about once.
    const told = new Set<string>();
    const once = (l: string) => {
      if (!told.has(l)) warn(l);
      told.add(l);
    };
    this.readOptions = { strict: options.strict ?? false, warn: once };
    this.handed = { seed: this.seed, epoch: 0, index: 0 };
    this.cursor = new Cursor(this, this.handed);
    if (this.opts.workers > 0) this.pool = new PrepPool(this.opts.workers);
  }

  /** The position of the next batch next() will return (prefetched batches are not counted as used). */
  state(): LoaderState {
    return this.queue.length === 0 ? this.cursor.position() : this.handed;
  }

  restore(s: LoaderState): void {
    if (s.seed !== this.seed) throw new DataError(`loader state was saved with seed ${s.seed}, this loader has seed ${this.seed}; resume with the same seed`);
    if (s.stream && s.stream.shards !== this.shards.length) throw new DataError(`the checkpoint's data position is in a list of ${s.stream.shards} shards, ${this.name} has ${this.shards.length}; resume with the same shards`);
    void this.cursor.close();
    this.queue = [];
    this.chain = Promise.resolve();
    this.failStreak = 0;
    this.handed = s;
    this.cursor = new Cursor(this, s);
  }

  next(): Promise<Batch> {
    while (this.queue.length <= this.opts.prefetch) {
      const cursor = this.cursor;
      const link = this.chain.then(() => this.assemble(cursor));
      this.chain = link.catch(() => {});
      link.catch(() => {});
      this.queue.push(link);
    }
    return this.queue.shift()!.then((r) => {
      this.handed = r.end;
      return r.batch;
    });
  }

  /** Pictures that could not be decoded so far. */
  get skipped(): number {
    return this.failedAt.size;
  }

  /** One line counting skipped samples (missing parts) and undecodable pictures; null if none. */
  decodeSummary(): string | null {
    const parts: string[] = [];
    const s = this.problems.summary();
    if (s) parts.push(s.replace(/^warning: /, ''));
    const n = this.failedAt.size;
    if (n > 0) parts.push(`skipped ${n} picture${n > 1 ? 's' : ''} that could not be decoded (${this.firstFailed.join(', ')}${n > this.firstFailed.length ? ', …' : ''}) in ${this.name}; pass --strict to stop at the first`);
    return parts.length > 0 ? `warning: ${parts.join('; ')}` : null;
  }

  async close(): Promise<void> {
    await this.cursor.close();
    await this.pool?.close();
    this.pool = undefined;
  }

  private async assemble(cursor: Cursor): Promise<{ batch: Batch; end: LoaderState }> {
    const { batchSize, contextLength, tokenizer, preprocess } = this.opts;
    const plane = 3 * preprocess.size * preprocess.size;
    const images = new Float32Array(batchSize * plane);
    const captions: string[] = new Array(batchSize);
    const langs: string[] = new Array(batchSize);
    const indices = new Uint32Array(batchSize);
    const start = cursor.position();
    let todo = Array.from({ length: batchSize }, (_, r) => r);
    while (todo.length > 0) {
      const items: Item[] = [];
      for (let k = 0; k < todo.length; k++) items.push(await cursor.next());
      const chosen = items.map((it) => this.captionOf(it));
      const results = await this.prepare(items, chosen, images, todo.map((r) => r * plane));
      const again: number[] = [];
      results.forEach((res, k) => {
        const r = todo[k]!;
        const it = items[k]!;
        if (res === true) {
          ({ text: captions[r], lang: langs[r] } = chosen[k]!);
          indices[r] = it.pair.index;
          this.failStreak = 0;
          return;
        }
        const where = `${it.pair.shard}:${it.pair.key}`;
        if (this.opts.strict) throw new DataError(`${res} (--strict stops at the first picture that cannot be decoded)`);
        if (!this.failedAt.has(where)) {
          this.failedAt.add(where);
          if (this.firstFailed.length < 3) this.firstFailed.push(where);
          if (this.failedAt.size === 1) this.opts.warn?.(`${res}; skipping it (pass --strict to stop instead)`);
        }
        if (++this.failStreak > 2 * this.failedAt.size) throw new DataError(`no picture in the ${this.shards.length} shards of ${this.name} could be decoded (${this.firstFailed.join(', ')}${this.failedAt.size > this.firstFailed.length ? ', …' : ''}); check that they are JPEG, PNG or WebP`);
        again.push(r);
      });
      todo = again;
    }
    const batch: Batch = { images, tokens: tokenizer.encodeBatch(captions, contextLength, langs), rows: batchSize, imageSize: preprocess.size, contextLength, indices, captions, langs, epoch: start.epoch, index: start.index, last: false };
    return { batch, end: cursor.position() };
  }

  /**
   * Training: any caption of the pair in English or in a language its json has (i18n) that the
   * tokenizer has a token for, as the folder's loader draws them; evaluation: the first English
   * one. A pair without translations draws exactly as before languages.
   */
  private captionOf(it: Item): LangCaption {
    const english = it.pair.captions;
    if (!this.train) return { text: english[0]!, lang: DEFAULT_LANGUAGE };
    const t = pairTranslations(it.pair);
    const caps = captionChoices(english, this.opts.tokenizer.languages, (lang) => t[lang] ?? []);
    return caps[new Rng(mixSeed(this.seed, it.epoch, it.shardId, it.pair.index, 0xa11)).int(caps.length)]!;
  }

  private task(it: Item, c: LangCaption): Omit<PrepTask, 'source'> {
    return { train: this.train, seed: mixSeed(this.seed, it.epoch, it.shardId, it.pair.index, 0xc40), noFlip: saysHandedness(c, it.pair.captions), augment: this.opts.augment ?? DEFAULT_AUGMENT, pre: this.opts.preprocess };
  }

  /** Decodes and augments the items (with the captions drawn for them) into `images` at the offsets; true or the reason, per item. */
  private async prepare(items: Item[], chosen: LangCaption[], images: Float32Array, offsets: number[]): Promise<(true | string)[]> {
    const source = (it: Item): ImageSource => ({ kind: 'bytes', bytes: it.pair.image.bytes, name: `${it.pair.shard}:${it.pair.key}.${it.pair.image.ext}` });
    if (this.pool) {
      const results = await this.pool.run(items.map((it, k) => ({ ...this.task(it, chosen[k]!), source: source(it) })));
      return results.map((res, k) => {
        if (!res.ok) return res.message;
        images.set(res.data, offsets[k]!);
        return true;
      });
    }
    return Promise.all(
      items.map(async (it, k) => {
        try {
          tensorise(await readSource(source(it), this.train, this.opts.preprocess), this.task(it, chosen[k]!), images, offsets[k]!);
          return true as const;
        } catch (e) {
          if (!(e instanceof DataError)) throw e;
          return e.message;
        }
      }),
    );
  }
}

/** The training stream of a shard argument: its train split (or all its shards, for one without splits). */
export function openShardTrainLoader(where: string, options: ShardLoaderOptions): ShardLoader {
  return new ShardLoader(shardsOfSplit(where, 'train'), where, options);
}
