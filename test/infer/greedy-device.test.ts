// Greedy decoding with the pick on the device and the steps pipelined (src/infer/greedy-device.ts)
// gives the CPU loop's captions to the bit: the same tokens, log-probs and scores as search.ts's
// greedyOrSample over the KV cache and over full recomputation, for several pictures whose
// captions end at different lengths, with min-len, a prefix, banned tokens, short maxLen and every
// pipeline depth; and when the device's pick goes wrong (NaN logits), it drops what it recorded
// after, rewinds the caches and still ends with the CPU loop's caption.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { captionTokens } from '../../src/infer/caption.ts';
import { greedyOnDevice, picksOnDevice } from '../../src/infer/greedy-device.ts';
import { CachedStepper } from '../../src/infer/kvcache.ts';
import { greedyOrSample, type Caption, type SearchOptions } from '../../src/infer/search.ts';
import { RecomputeStepper } from '../../src/infer/stepper.ts';
import { CocaModel } from '../../src/model/coca.ts';
import { noGrad } from '../../src/tensor/tape.ts';
import { tidy, type Tensor } from '../../src/tensor/tensor.ts';
import { Rng } from '../../src/util/prng.ts';
import { decodingConfig } from '../helpers/decoding-config.ts';
import { testGpu } from '../helpers/gpu.ts';

/** When set, the device's pick number `at` is overwritten with a wrong id after the kernel writes it. */
let corrupt: { at: number; calls: number } | null = null;
vi.mock('../../kernels/argmax.ts', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../kernels/argmax.ts')>();
  return {
    ...real,
    argmaxRows: (g: Gpu, call: Parameters<typeof real.argmaxRows>[1]) => {
      real.argmaxRows(g, call);
      if (corrupt && corrupt.calls++ === corrupt.at) {
        // Ordered after the kernel (the write flushes what was recorded first); id 4 for every row,
        // which is no row's pick at these positions (min-len 5 keeps [EOT] out).
        g.write(call.out.buffer, new Uint32Array(call.logits.shape[0]!).fill(4), (call.out.offset ?? 0) * 4);
      }
    },
  };
});

let gpu: Gpu;
let model: CocaModel;
const B = 5;
const EOT = 2;
let tokens: Tensor;
let release: () => void;

beforeAll(async () => {
  gpu = await testGpu();
  model = CocaModel.init(gpu, decodingConfig(), 5);
  // Sharper distributions than the init's, and an [EOT] column strong enough that some captions
  // end early and others run to maxLen (checked below, so the test cannot pass by never ending).
  const proj = model.params.get('text_decoder.text_projection');
  const V = model.config.multimodal_cfg.vocab_size;
  const w = (await proj.toArray()).map((x) => x * 8);
  for (let r = 0; r < w.length / V; r++) w[r * V + EOT] = w[r * V + EOT]! * 3 + 0.9;
  gpu.write(proj.buffer, w, proj.offset * 4);
  const rng = new Rng(33);
  const S = model.config.vision_cfg.image_size;
  const images = Float32Array.from({ length: B * 3 * S * S }, () => rng.normal());
  const patches = model.preparePatches(images, B);
  const enc = noGrad(() => tidy(() => model.encodeImage(patches)));
  patches.release();
  tokens = enc.tokens;
  release = () => {
    enc.embedding.release();
    enc.tokens.release();
  };
});
afterAll(() => {
  release?.();
  model?.params.release();
  gpu?.pool.trim();
});

async function cpuLoop(opts: SearchOptions, recompute = false): Promise<Caption[]> {
  const s = recompute ? new RecomputeStepper(model, tokens, 1) : new CachedStepper(model, tokens, { beams: 1 });
  try {
    return await greedyOrSample(s, opts.maxLen, opts);
  } finally {
    s.release();
  }
}

async function onDevice(opts: SearchOptions, depth?: number): Promise<Caption[]> {
  const s = new CachedStepper(model, tokens, { beams: 1 });
  try {
    return await greedyOnDevice(s, opts.maxLen, opts, depth);
  } finally {
    s.release();
  }
}

describe('greedy with the pick on the device', () => {
  it.each([
    ['plain', { maxLen: 12 }],
    ['min-len 4', { maxLen: 12, minLen: 4 }],
    ['a prefix and banned ids', { maxLen: 12, prefix: [5, 7], banned: [9, 11, 3] }],
    ['maxLen 2 (one token)', { maxLen: 2 }],
    ['maxLen 3', { maxLen: 3, minLen: 1 }],
    ['[SOT] allowed, no pad mask', { maxLen: 10, sotAllowed: true, pad: -1 }],
  ] as [string, SearchOptions][])('%s: the CPU loop’s tokens, log-probs and scores at depths 1–4', async (_, opts) => {
    const want = await cpuLoop(opts);
    expect(await cpuLoop(opts, true)).toEqual(want);
    for (const depth of [1, 2, 3, 4]) expect(await onDevice(opts, depth)).toEqual(want);
  });

  it('the captions end at different lengths (so finishing early is exercised)', async () => {
    const lengths = (await onDevice({ maxLen: 12 })).map((c) => c.tokens.length);
    expect(new Set(lengths).size).toBeGreaterThan(1);
    expect(Math.min(...lengths)).toBeLessThan(12);
  });

  it('is what captionTokens uses for greedy with the cache, and only there', async () => {
    const opts = { maxLen: 12, beams: 1, minLen: 2 };
    expect(await captionTokens(model, tokens, opts)).toEqual(await cpuLoop(opts));
    expect(await captionTokens(model, tokens, { ...opts, pickOnDevice: false })).toEqual(await cpuLoop(opts));
    expect(picksOnDevice({ beams: 1, recordsAttention: false }, opts)).toBe(true);
    expect(picksOnDevice({ beams: 1, recordsAttention: false }, { ...opts, repetitionPenalty: 1.2 })).toBe(false);
    expect(picksOnDevice({ beams: 1, recordsAttention: false }, { ...opts, sample: { seed: 1 } })).toBe(false);
    expect(picksOnDevice({ beams: 1, recordsAttention: true }, opts)).toBe(false);
    expect(picksOnDevice({ beams: 3, recordsAttention: false }, opts)).toBe(false);
  });

  it('a wrong device pick is caught: what was recorded after it is dropped, the caches rewound, and the caption is the CPU loop’s', async () => {
    const opts = { maxLen: 12, minLen: 5 };
    const want = await cpuLoop(opts);
    for (const depth of [1, 2, 3]) {
      for (const at of [0, 3, 6]) {
        const s = new CachedStepper(model, tokens, { beams: 1 });
        const rewinds: number[] = [];
        const rewind = s.rewind.bind(s);
        s.rewind = (n: number) => {
          rewinds.push(n);
          rewind(n);
        };
        corrupt = { at, calls: 0 };
        try {
          expect(await greedyOnDevice(s, opts.maxLen, opts, depth)).toEqual(want);
        } finally {
          corrupt = null;
          s.release();
        }
        // Pick k is fed at position k + 1 ([SOT] took position 0).
        expect(rewinds).toEqual([at + 1]);
      }
    }
  });

  it('gives back every buffer it takes, also when it stops early or falls back', async () => {
    await onDevice({ maxLen: 12 });
    const inUse = gpu.pool.snapshot().inUseBytes;
    await onDevice({ maxLen: 12, banned: [4] });
    await onDevice({ maxLen: 12 }, 3);
    expect(gpu.pool.snapshot().inUseBytes).toBe(inUse);
  });
});
