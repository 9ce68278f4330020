// Host side of the embedding family (shaders/embedding.wgsl): token ids, shape and range checks,
// the sorted position index of the backward pass, dispatch.
//
// Token ids live on both sides: a TokenIds holds the GPU buffer the kernels read and the CPU copy
// the launchers check against the vocabulary before anything is dispatched (an id outside the
// table would otherwise read another buffer's memory or be silently clamped). The trainer builds
// its batches on the CPU anyway, so uploadTokenIds costs one writeBuffer per batch, shared by the
// embedding forward and backward and by the cross-entropy that uses the same batch's targets.
import type { Gpu } from '../src/gpu/gpu.ts';
import { ShapeError } from '../src/gpu/errors.ts';
import { checkTensor, grid2d, type TensorRef } from './common.ts';

export interface TokenIds {
  /** CPU copy: non-negative ids, or (for cross-entropy targets) the ignore index. */
  readonly host: Int32Array;
  /** The ids as u32/i32 words from offset 0, then the backward index when there is one. */
  readonly buffer: GPUBuffer;
  /** [N] or [B, T]. */
  readonly shape: readonly number[];
  /** Where embeddingBackward finds its sorted position lists, when uploaded with a vocabulary. */
  readonly index?: BackwardIndex;
}

/** Word offsets (into TokenIds.buffer or a buffer of its own) of the backward index parts. */
export interface BackwardIndex {
  vocab: number;
  /** Distinct ids. */
  used: number;
  /** Positions sorted by (id, position): N words. */
  positions: number;
  /** Start of each vocabulary row's positions: vocab + 1 words. */
  allStarts: number;
  /** Start of each used row's positions: used + 1 words. */
  usedStarts: number;
  /** The used ids, increasing: used words. */
  usedRows: number;
}

export interface TokenIdsOptions {
  /** [N] (default) or [B, T]. */
  shape?: readonly number[];
  /**
   * The embedding table's vocabulary: checks every id against it now and packs the backward
   * index beside the ids, so embeddingBackward uploads nothing (an upload in the middle of
   * recorded work forces a submit). Leave out for cross-entropy targets with an ignore index.
   */
  vocab?: number;
  label?: string;
}

/** Checks that `ids` are int32 values and uploads them; release with releaseTokenIds. */
export function uploadTokenIds(gpu: Gpu, ids: ArrayLike<number>, opts: TokenIdsOptions = {}): TokenIds {
  const label = opts.label ?? 'ids';
  const shape = opts.shape ?? [ids.length];
  const n = shape.reduce((a, b) => a * b, 1);
  if (shape.length < 1 || shape.length > 2 || shape.some((d) => !Number.isInteger(d) || d <= 0)) {
    throw new ShapeError(`${label}: shape [${shape.join(', ')}] must be [N] or [B, T] of positive integers`);
  }
  if (n !== ids.length) throw new ShapeError(`${label}: shape [${shape.join(', ')}] holds ${n} ids but ${ids.length} were given`);
  const host = new Int32Array(ids.length);
  for (let i = 0; i < ids.length; i++) {
    const v = ids[i]!;
    if (!Number.isInteger(v) || v < -(2 ** 31) || v >= 2 ** 31) throw new ShapeError(`${label}[${i}] = ${v} is not a 32-bit integer token id`);
    host[i] = v;
  }
  const plain = { host, shape: [...shape] };
  if (opts.vocab === undefined) return { ...plain, buffer: gpu.upload(host, label) };
  checkIdsInRange(label, 'ids', plain, opts.vocab);
  const ix = buildBackwardIndex(host, opts.vocab, host.length);
  const words = new Uint32Array(host.length + ix.words.length);
  words.set(new Uint32Array(host.buffer));
  words.set(ix.words, host.length);
  return { ...plain, buffer: gpu.upload(words, label), index: ix.index };
}

export function releaseTokenIds(gpu: Gpu, ids: TokenIds): void {
  gpu.release(ids.buffer);
}

/** Throws naming the first id outside [0, vocab) (other than `allowed`, the ignore index). */
export function checkIdsInRange(fn: string, what: string, ids: Pick<TokenIds, 'host' | 'shape'>, vocab: number, allowed?: number): void {
  const h = ids.host;
  for (let i = 0; i < h.length; i++) {
    const v = h[i]!;
    if ((v < 0 || v >= vocab) && v !== allowed) {
      const at = ids.shape.length === 2 ? `[${Math.floor(i / ids.shape[1]!)}, ${i % ids.shape[1]!}]` : `[${i}]`;
      const also = allowed === undefined ? '' : ` or the ignore index ${allowed}`;
      throw new ShapeError(`${fn}: ${what}${at} = ${v} is outside the vocabulary [0, ${vocab})${also}`);
    }
  }
}

const COLS = 4; // columns per invocation, as shaders/embedding.wgsl COLS
const WG = 64;

function uniforms(values: number[]): Uint32Array {
  const u = new Uint32Array(8);
  u.set(values);
  return u;
}

/**
 * Ids already on the device, from word 0 of `buffer`: a decoding step's own pick
 * (kernels/argmax.ts), so the step need not wait for the CPU. There is no CPU copy to check, so
 * the producer vouches for the range: every id is below `vocab`, which must not exceed the table's.
 * Forward only (the backward index is built from the CPU copy).
 */
export interface DeviceTokenIds {
  readonly host: null;
  readonly buffer: GPUBuffer;
  /** [N] or [B, T]. */
  readonly shape: readonly number[];
  readonly vocab: number;
}

export interface EmbeddingCall {
  ids: TokenIds | DeviceTokenIds;
  /** [V, D] */
  table: TensorRef;
  /** [N, D] or [B, T, D], like ids with D appended. */
  out: TensorRef;
  /** [maxT, D], maxT ≥ T: adds row t to every token at sequence position t (ids must be [B, T]). */
  pos?: TensorRef;
  label?: string;
}

/** Records out = table[ids] (+ pos[t]). */
export function embedding(gpu: Gpu, call: EmbeddingCall): void {
  const fn = call.label ?? 'embedding';
  if (call.table.shape.length !== 2) throw new ShapeError(`${fn}: table [${call.table.shape.join(', ')}] should be [vocab, dim]`);
  const [V, D] = call.table.shape as [number, number];
  const N = call.ids.shape.reduce((a, b) => a * b, 1);
  const T = call.ids.shape.length === 2 ? call.ids.shape[1]! : N;
  const offTable = checkTensor(gpu, fn, 'table', call.table, [V, D]).offset;
  const offOut = checkTensor(gpu, fn, 'out', call.out, [...call.ids.shape, D]).offset;
  let offPos = 0;
  if (call.pos) {
    if (call.ids.shape.length !== 2) throw new ShapeError(`${fn}: position embeddings need ids of shape [B, T]; got [${call.ids.shape.join(', ')}]`);
    const maxT = call.pos.shape[0] ?? 0;
    if (maxT < T) throw new ShapeError(`${fn}: pos [${call.pos.shape.join(', ')}] has ${maxT} positions but the sequences are ${T} long`);
    offPos = checkTensor(gpu, fn, 'pos', call.pos, [maxT, D]).offset;
  }
  if (call.ids.host) checkIdsInRange(fn, 'ids', call.ids, V);
  else {
    if (call.ids.vocab > V) throw new ShapeError(`${fn}: device ids over a vocabulary of ${call.ids.vocab} cannot index a table of ${V} rows`);
    if (N * 4 > call.ids.buffer.size) throw new ShapeError(`${fn}: ${N} device ids do not fit "${call.ids.buffer.label}" (${call.ids.buffer.size} bytes)`);
  }
  const k = gpu.kernel({ file: 'embedding', entry: 'embedding_fwd', bindings: ['read', 'read', 'read', 'rw'] });
  const u = uniforms([N, D, T, call.pos ? 1 : 0, offTable, offPos, offOut]);
  gpu.dispatch(k, u, [call.ids.buffer, call.table.buffer, call.pos?.buffer ?? gpu.unused, call.out.buffer], grid2d(gpu, Math.ceil((N * Math.ceil(D / COLS)) / WG)), `${fn}_fwd(${N}x${D})`);
}

/**
 * The backward index, a stable counting sort of positions by id: `positions` lists the positions
 * of id 0, then of id 1, ..., each in increasing order; row r's list is
 * positions[starts[r] .. starts[r+1]). Two start tables: one per vocabulary row (the overwrite
 * pass writes every row, zeroing absent ones) and one per used id (the accumulate pass touches
 * only those). Offsets are in words from `base`.
 */
export function buildBackwardIndex(ids: Int32Array, vocab: number, base = 0): { words: Uint32Array; index: BackwardIndex } {
  const N = ids.length;
  const counts = new Uint32Array(vocab);
  for (const id of ids) counts[id]!++;
  let used = 0;
  for (let v = 0; v < vocab; v++) if (counts[v]) used++;
  const index: BackwardIndex = { vocab, used, positions: base, allStarts: base + N, usedStarts: base + N + vocab + 1, usedRows: base + N + vocab + used + 2 };
  const words = new Uint32Array(N + vocab + 2 * used + 2);
  const at = (off: number) => off - base;
  const next = new Uint32Array(vocab); // where the next position of id v goes
  let start = 0;
  let u = 0;
  for (let v = 0; v < vocab; v++) {
    words[at(index.allStarts) + v] = start;
    next[v] = start;
    if (counts[v]) {
      words[at(index.usedStarts) + u] = start;
      words[at(index.usedRows) + u++] = v;
    }
    start += counts[v]!;
  }
  words[at(index.allStarts) + vocab] = start;
  words[at(index.usedStarts) + used] = start;
  for (let p = 0; p < N; p++) words[at(index.positions) + next[ids[p]!]!++] = p;
  return { words, index };
}

export interface EmbeddingBackwardCall {
  ids: TokenIds;
  /** [N, D] or [B, T, D]: gradient of the forward's output. */
  dout: TensorRef;
  /** [V, D] */
  dTable: TensorRef;
  /** dTable += instead of =. Only rows that occur are touched (tied input/output embeddings). */
  accumulate?: boolean;
  /** [maxT, D]: gradient of the position table; rows past T are left as they are. */
  dPos?: TensorRef;
  accumulatePos?: boolean;
  label?: string;
}

/** Records dTable (=|+=) scatter-add of dout by ids, in a fixed order; dPos likewise. */
export function embeddingBackward(gpu: Gpu, call: EmbeddingBackwardCall): void {
  const fn = call.label ?? 'embedding_backward';
  if (call.dTable.shape.length !== 2) throw new ShapeError(`${fn}: dTable [${call.dTable.shape.join(', ')}] should be [vocab, dim]`);
  const [V, D] = call.dTable.shape as [number, number];
  const N = call.ids.host.length;
  const offTable = checkTensor(gpu, fn, 'dTable', call.dTable, [V, D]).offset;
  const offDout = checkTensor(gpu, fn, 'dout', call.dout, [...call.ids.shape, D]).offset;
  if (offDout !== 0) throw new ShapeError(`${fn}: dout must start at offset 0 of its buffer (got ${offDout})`);
  let offPos = 0;
  if (call.dPos) {
    if (call.ids.shape.length !== 2) throw new ShapeError(`${fn}: position gradients need ids of shape [B, T]; got [${call.ids.shape.join(', ')}]`);
    const maxT = call.dPos.shape[0] ?? 0;
    if (maxT < call.ids.shape[1]!) throw new ShapeError(`${fn}: dPos [${call.dPos.shape.join(', ')}] has ${maxT} positions but the sequences are ${call.ids.shape[1]} long`);
    offPos = checkTensor(gpu, fn, 'dPos', call.dPos, [maxT, D]).offset;
    if (call.dPos.buffer === call.dout.buffer) throw new ShapeError(`${fn}: dPos must not share a buffer with dout`);
  }
  if (call.dTable.buffer === call.dout.buffer) throw new ShapeError(`${fn}: dTable must not share a buffer with dout`);
  checkIdsInRange(fn, 'ids', call.ids, V);

  const accumulate = call.accumulate ?? false;
  let buffer = call.ids.buffer;
  let ix = call.ids.index;
  if (ix?.vocab !== V) {
    // Ids uploaded without this vocabulary: build the index here (an upload, so a submit).
    const built = buildBackwardIndex(call.ids.host, V);
    ix = built.index;
    buffer = gpu.upload(built.words, `${fn}:index`);
  }
  const rows = accumulate ? ix.used : V;
  const k = gpu.kernel({ file: 'embedding', entry: 'embedding_bwd', bindings: ['read', 'read', 'rw'] });
  const u = uniforms([rows, D, accumulate ? ix.usedStarts : ix.allStarts, accumulate ? 2 : 4, ix.usedRows, ix.positions, offTable]);
  gpu.dispatch(k, u, [buffer, call.dout.buffer, call.dTable.buffer], grid2d(gpu, Math.ceil((rows * Math.ceil(D / COLS)) / WG)), `${fn}(${N}x${D}→${V})`);
  // Safe to recycle at once: any later write to a pooled buffer is queued after this dispatch.
  if (buffer !== call.ids.buffer) gpu.release(buffer);

  if (call.dPos) {
    const [B, T] = call.ids.shape as [number, number];
    const kp = gpu.kernel({ file: 'embedding', entry: 'embedding_pos_bwd', bindings: ['read', 'rw'] });
    const up = uniforms([T, D, B, call.accumulatePos ? 2 : 0, 0, 0, offPos]);
    gpu.dispatch(kp, up, [call.dout.buffer, call.dPos.buffer], grid2d(gpu, Math.ceil((T * D) / WG)), `${fn}:pos(${B}x${T}x${D})`);
  }
}

/** Bytes moved by one forward call (ids, table rows, pos rows, out), for GB/s. */
export function embeddingBytes(N: number, D: number, withPos: boolean): number {
  return 4 * (N + N * D * (withPos ? 3 : 2));
}
