// Greedy decoding with the pick on the device, pipelined. At one picture a KV-cached step is ~30
// small dispatches: the device runs them in a few milliseconds, and the CPU takes about as long
// to record them. Picking on the CPU serialises the two (record, run, read the logits, pick,
// record the next...). Here each step's argmax (kernels/argmax.ts) writes its token into a
// buffer that the next step's embedding reads, so step t + 1 is recorded and submitted while the
// device still runs step t, and the logits come back `depth` steps behind.
//
// The CPU still makes every decision that counts: it reads each step's logits, applies
// search.ts's rule (adjust, log-softmax, firstMax) and keeps its own pick and log-prob, so a
// caption is the CPU loop's to the bit. The device's pick is only a guess of it, checked for every
// row: they agree unless a logit is NaN (the two scans then differ). On a disagreement the steps
// fed with the wrong token are dropped, the caches are rewound, and the caption goes on the CPU
// way (CachedStepper.step, a read per step).
//
// Finishing: the CPU learns that every row has ended (or maxLen is reached) `depth` steps late;
// the steps recorded meanwhile are thrown away unread. Only greedy without a repetition penalty
// and without attention recording takes this path (captionTokens decides): the kernel has no
// penalty, and recorded attention is read every step anyway.
import type { Gpu } from '../gpu/gpu.ts';
import { pickTokens } from '../tensor/ops/pick.ts';
import type { Tensor } from '../tensor/tensor.ts';
import type { CachedStepper } from './kvcache.ts';
import { adjust, firstMax, logSoftmax, searchDefaults, type Caption, type SearchOptions } from './search.ts';

/** Steps in flight when the CPU waits for the oldest one's read (2: the device runs one while the JS records the next). */
export const PIPELINE_DEPTH = 2;

/** Whether greedyOnDevice serves these options (else the CPU loop of search.ts). */
export function picksOnDevice(s: { beams: number; recordsAttention: boolean }, opts: SearchOptions): boolean {
  const o = searchDefaults(opts);
  return s.beams === 1 && opts.sample === undefined && o.repetitionPenalty === 1 && !s.recordsAttention;
}

interface Row {
  tokens: number[];
  logprobs: number[];
  done: boolean;
}

/** A step in flight: its logits and the read of them and of the ids the device picked from them. */
interface InFlight {
  logits: Tensor;
  read: () => Promise<ArrayBuffer[]>;
  /** Positions fed when these logits were made: where the step fed with this pick writes. */
  fed: number;
}

export async function greedyOnDevice(s: CachedStepper, maxLen: number, opts: SearchOptions, depth = PIPELINE_DEPTH): Promise<Caption[]> {
  const o = searchDefaults(opts);
  const gpu: Gpu = s.gpu;
  const N = s.rows;
  const V = s.vocab;
  const rows: Row[] = Array.from({ length: N }, () => ({ tokens: [o.sot], logprobs: [], done: false }));
  const banned = o.banned.length ? { buffer: gpu.upload(Uint32Array.from(o.banned), 'argmax.banned'), count: o.banned.length } : null;
  const flight: InFlight[] = [];
  /** The newest step's logits, not yet picked from. */
  let next: Tensor | null = null;
  let prevIds: GPUBuffer | null = null;
  maxLen -= o.prefix.length;

  // The CPU's choice for every row from one step's logits; false where a row's device pick differs.
  const choose = (logits: Float32Array, devicePicks: Uint32Array | null): boolean => {
    let agree = true;
    rows.forEach((r, n) => {
      if (r.done) return;
      const row = logits.subarray(n * V, (n + 1) * V);
      adjust(row, r.tokens, o);
      const lp = logSoftmax(row);
      const pick = firstMax(row);
      if (devicePicks && devicePicks[n] !== pick) agree = false;
      r.tokens.push(pick);
      r.logprobs.push(lp[pick]!);
      if (pick === o.eot) r.done = true;
    });
    return agree;
  };
  const ended = () => rows.every((r) => r.done || r.tokens.length >= maxLen);
  const chosen = () => Int32Array.from(rows, (r) => (r.done ? o.eot : r.tokens[r.tokens.length - 1]!));
  // Steps recorded but never to be read: the device runs them anyway, and their staging buffers
  // go back to the pool once mapped. A failure of these reads is not the caller's (after a GPU
  // error it would only hide the first one), so it is dropped with them.
  const drop = async () => {
    next?.release();
    next = null;
    for (const f of flight.splice(0)) {
      f.logits.release();
      await f.read().catch(() => undefined);
    }
  };

  try {
    // [SOT] and the prefix: fed from the CPU, nothing read.
    next = s.stepOnDevice(new Int32Array(N).fill(o.sot));
    for (const t of o.prefix) {
      next.release();
      next = s.stepOnDevice(new Int32Array(N).fill(t));
    }
    let k = 0;
    for (;;) {
      if (next) {
        const logits: Tensor = next;
        next = null;
        const ids = gpu.alloc(N, 'argmax.ids');
        pickTokens(logits, prevIds, ids, { ...o, maskEot: k < o.minLen, banned });
        const read = gpu.readLater([{ buffer: logits.buffer, bytes: N * V * 4, offset: logits.offset * 4 }, { buffer: ids, bytes: N * 4 }], 'decode');
        flight.push({ logits, read, fed: s.length });
        // Recorded reads of the previous ids are ordered before any reuse of their memory.
        if (prevIds) gpu.release(prevIds);
        prevIds = ids;
        // The CPU loop steps again only while a caption may still grow (k + 2 tokens after this pick).
        if (k + 2 < maxLen) {
          next = s.stepOnDevice({ buffer: ids, rows: N, vocab: V });
          k++;
        }
        if (next && flight.length < depth) continue;
      }
      const f = flight.shift()!;
      const [lb, ib] = await f.read();
      f.logits.release();
      const agree = choose(new Float32Array(lb!), new Uint32Array(ib!));
      if (ended()) break;
      if (!agree) {
        // What was recorded after this step was fed the device's wrong pick: drop it, rewind the
        // caches to where that pick went, and finish on the CPU.
        await drop();
        s.rewind(f.fed);
        for (;;) {
          const l = await s.step(chosen());
          choose(l, null);
          if (ended()) break;
        }
        break;
      }
    }
  } finally {
    await drop();
    if (prevIds) gpu.release(prevIds);
    if (banned) gpu.release(banned.buffer);
  }
  return rows.map((r) => ({ tokens: r.tokens, logprobs: r.logprobs, score: r.logprobs.reduce((a, b) => a + b, 0) }));
}
