// `coca bench decode`: caption decoding speed with and without the KV cache, and retrieval
// queries per second.
//
// Decoding: greedy, exactly 30 generated tokens per image ([EOT] held back by min-len, so every
// way does the same number of steps), random weights of each preset (speed does not depend
// on training), batch 1 and 16. tokens/s = batch·30 / wall time of the whole decode, image
// encoding excluded (it is the same for all); the median of --runs timed decodes after one that
// compiles. Three ways, checked to give the same tokens: the KV cache as captioning runs it (the
// pick on the device, the next step recorded before the last is read:
// src/infer/greedy-device.ts), the KV cache with the CPU loop (a read and a pick on the CPU per
// step, as recomputation does), and full recomputation. They take turns, round by round, and a
// speed-up over recomputation is the median of the rounds' ratios.
// Without the cache, step t recomputes t positions through both text stacks: Σ t ≈ L²/2 rows
// against L, so the ratio grows with the length; at small batch on a software adapter the
// per-dispatch cost, not the rows, sets the floor for both.
//
// Retrieval: an index of 10,000 random unit embeddings of the preset's width; a query is one text
// through the text tower (GPU) plus a scan of the index (CPU, n·E multiply-adds) and a top-10.
import { captionTokens } from '../infer/caption.ts';
import { embedTexts, normaliseRows, topK } from '../infer/embed.ts';
import { CocaModel } from '../model/coca.ts';
import { loadConfig } from '../model/config.ts';
import { noGrad } from '../tensor/tape.ts';
import { tidy } from '../tensor/tensor.ts';
import { Rng } from '../util/prng.ts';
import { caseProgress, fmt, printTable, type BenchFamily } from '../../kernels/bench/harness.ts';
import type { Tokenizer } from '../data/index.ts';

const TOKENS = 30;
const INDEX_SIZE = 10_000;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

interface DecodeRow {
  preset: string;
  batch: number;
  cachedTokS: number;
  hostLoopTokS: number;
  recomputeTokS: number;
  speedup: number;
  hostLoopSpeedup: number;
  same: boolean;
}

/** A stand-in tokenizer for the query texts: ids from the characters (speed only). */
function charTokenizer(vocab: number): Tokenizer {
  const encode = (t: string, L = 64) => [1, ...Array.from(t.slice(0, L - 2), (c) => 3 + (c.charCodeAt(0) % (vocab - 3))), 2];
  const encodeBatch = (texts: readonly string[], L: number) => {
    const out = new Int32Array(texts.length * L);
    texts.forEach((t, i) => out.set(encode(t, L), i * L));
    return out;
  };
  return { padId: 0, encode, encodeBatch } as unknown as Tokenizer;
}

export const decodeBench: BenchFamily = {
  name: 'decode',
  describe: 'caption decoding tokens/s with and without the KV cache (--sizes nano,tiny; batch 1, 16), retrieval queries/s over 10k images',
  async run(ctx) {
    const { gpu } = ctx;
    const presets = (ctx.sizes ?? 'nano,tiny').split(',').map((s) => s.trim());
    const rows: DecodeRow[] = [];
    const retrieval: { preset: string; E: number; scanQps: number; queryQps: number }[] = [];
    let failed = 0;
    for (const preset of presets) {
      const config = loadConfig(preset);
      const model = CocaModel.init(gpu, config, ctx.seed);
      const S = config.vision_cfg.image_size;
      const rng = new Rng(ctx.seed);
      for (const B of [1, 16]) {
        const images = Float32Array.from({ length: B * 3 * S * S }, () => rng.normal());
        const patches = model.preparePatches(images, B);
        const enc = noGrad(() => tidy(() => model.encodeImage(patches)));
        const opts = { maxLen: TOKENS + 1, minLen: TOKENS, beams: 1 };
        const p = caseProgress(`decode ${preset} batch ${B}, ${TOKENS} tokens`);
        // The three ways take turns, round by round (the order rotating), so that each ratio
        // compares decodes of the same minute: a software adapter's speed drifts by tens of per
        // cent between minutes. One untimed decode each first compiles the pipelines.
        const ways = [{ stepper: 'cache', pickOnDevice: true }, { stepper: 'cache', pickOnDevice: false }, { stepper: 'recompute', pickOnDevice: true }] as const;
        const ms: number[][] = [[], [], []];
        const out: number[][][] = [[], [], []];
        const decode = async (w: number) => {
          const t0 = performance.now();
          out[w] = (await captionTokens(model, enc.tokens, { ...opts, ...ways[w]! })).map((c) => c.tokens);
          return performance.now() - t0;
        };
        for (let w = 0; w < 3; w++) await decode(w);
        const ratios: { cached: number[]; host: number[] } = { cached: [], host: [] };
        for (let r = 0; r < Math.max(1, ctx.runs); r++) {
          for (const w of [0, 1, 2].map((i) => (i + r) % 3)) ms[w]!.push(await decode(w));
          ratios.cached.push(ms[2]![r]! / ms[0]![r]!);
          ratios.host.push(ms[2]![r]! / ms[1]![r]!);
        }
        const cached = { ms: median(ms[0]!), tokens: out[0]! };
        const host = { ms: median(ms[1]!), tokens: out[1]! };
        const full = { ms: median(ms[2]!), tokens: out[2]! };
        const key = (t: number[][]) => JSON.stringify(t);
        const same = key(cached.tokens) === key(full.tokens) && key(host.tokens) === key(full.tokens) && cached.tokens.every((t) => t.length === TOKENS + 1);
        if (!same) failed++;
        const tokS = (ms: number) => (B * TOKENS) / (ms / 1000);
        const row = { preset, batch: B, cachedTokS: tokS(cached.ms), hostLoopTokS: tokS(host.ms), recomputeTokS: tokS(full.ms), speedup: median(ratios.cached), hostLoopSpeedup: median(ratios.host), same };
        p.done(`${fmt(row.cachedTokS, 0)} (CPU loop ${fmt(row.hostLoopTokS, 0)}) vs ${fmt(row.recomputeTokS, 0)} tokens/s (×${fmt(row.speedup, 2)}; CPU loop ×${fmt(row.hostLoopSpeedup, 2)})${same ? '' : ' TOKENS DIFFER'}`);
        rows.push(row);
        patches.release();
        enc.embedding.release();
        enc.tokens.release();
      }
      // Retrieval over a synthetic index.
      const E = config.embed_dim;
      const index = normaliseRows(Float32Array.from({ length: INDEX_SIZE * E }, () => rng.normal()), E);
      const tok = charTokenizer(config.text_cfg.vocab_size);
      const queries = ['dog on surfboard', 'person surfing', 'a red apple', 'two cats', 'a city at night', 'a bowl of soup', 'a yellow star', 'a bicycle'];
      const p = caseProgress(`retrieval ${preset}, ${INDEX_SIZE.toLocaleString('en')} images`);
      await embedTexts(model, tok, queries.slice(0, 1)); // compile
      const qv = await embedTexts(model, tok, queries.slice(0, 1));
      let t0 = performance.now();
      let scans = 0;
      while (performance.now() - t0 < 500) {
        topK(index, qv, 10);
        scans++;
      }
      const scanQps = scans / ((performance.now() - t0) / 1000);
      t0 = performance.now();
      for (const q of queries) topK(index, await embedTexts(model, tok, [q]), 10);
      const queryQps = queries.length / ((performance.now() - t0) / 1000);
      p.done(`${fmt(queryQps, 1)} queries/s (index scan alone ${fmt(scanQps, 0)}/s)`);
      retrieval.push({ preset, E, scanQps, queryQps });
      model.params.release();
    }
    console.log();
    printTable(
      ['preset', 'batch', 'tokens', 'KV cache tok/s', 'cache, CPU loop', 'recompute tok/s', 'speed-up', 'CPU loop speed-up', 'same tokens'],
      rows.map((r) => [r.preset, String(r.batch), String(TOKENS), fmt(r.cachedTokS, 0), fmt(r.hostLoopTokS, 0), fmt(r.recomputeTokS, 0), `×${fmt(r.speedup, 2)}`, `×${fmt(r.hostLoopSpeedup, 2)}`, r.same ? 'yes' : 'NO']),
      1,
    );
    console.log();
    printTable(
      ['preset', 'index', 'dim', 'queries/s (text encode + scan)', 'scan only /s'],
      retrieval.map((r) => [r.preset, INDEX_SIZE.toLocaleString('en'), String(r.E), fmt(r.queryQps, 1), fmt(r.scanQps, 0)]),
      1,
    );
    return { failed, report: { decode: rows, retrieval } };
  },
};
