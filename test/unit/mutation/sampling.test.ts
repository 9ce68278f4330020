// What sampling draws, checked by frequency on a stepper without a GPU whose next-token
// distribution is fixed and known: P([EOT]) = 0.05, P(3) = 0.5, P(4) = 0.3, P(5) = 0.15. The
// mutation run (docs/mutation.md) found top-k, top-p and temperature untested: only that a seed
// reproduces its caption was. Each row of one batch draws one token from its own seed, so 4,000
// rows are 4,000 independent draws; a share's binomial sd is then at most 0.008, and every bound
// below is at least 5 of them wide.
import { describe, expect, it } from 'vitest';
import { greedyOrSample, type SearchOptions } from '../../../src/infer/search.ts';
import type { Stepper } from '../../../src/infer/stepper.ts';

const P = [0, 0, 0.05, 0.5, 0.3, 0.15]; // [PAD] 0 and [SOT] 1 are never drawn
const N = 4000;

function fixedStepper(rows: number): Stepper {
  const logits = Float32Array.from(P, (p) => (p > 0 ? Math.log(p) : 0));
  let length = 0;
  return {
    rows,
    beams: 1,
    vocab: P.length,
    get length() {
      return length;
    },
    async step(tokens: Int32Array) {
      length++;
      const out = new Float32Array(tokens.length * P.length);
      for (let n = 0; n < tokens.length; n++) out.set(logits, n * P.length);
      return out;
    },
    reorder() {},
    crossAttention: () => null,
    release() {},
  };
}

/** Share of each token among N one-token samples. */
async function shares(sample: NonNullable<SearchOptions['sample']>): Promise<number[]> {
  const rowSeeds = Array.from({ length: N }, (_, n) => 1000 + n);
  const captions = await greedyOrSample(fixedStepper(N), 2, { maxLen: 2, sample: { ...sample, rowSeeds } });
  const count = new Array<number>(P.length).fill(0);
  for (const c of captions) {
    expect(c.tokens).toHaveLength(2);
    count[c.tokens[1]!]!++;
  }
  return count.map((c) => c / N);
}

const near = (got: number[], want: number[]) => want.forEach((w, v) => expect(Math.abs(got[v]! - w), `token ${v}: ${got[v]} vs ${w}`).toBeLessThan(0.04));

describe('sampling draws from the distribution asked for', () => {
  it('plain: the model’s probabilities', async () => {
    near(await shares({}), P);
  });

  it('top-k 2: the two likeliest tokens, renormalised (0.5 and 0.3 → 0.625 and 0.375)', async () => {
    near(await shares({ topK: 2 }), [0, 0, 0, 0.625, 0.375, 0]);
    near(await shares({ topK: 1 }), [0, 0, 0, 1, 0, 0]);
  });

  it('top-p: the smallest set of likeliest tokens whose mass reaches p', async () => {
    near(await shares({ topP: 0.45 }), [0, 0, 0, 1, 0, 0]); // 0.5 alone reaches 0.45
    near(await shares({ topP: 0.7 }), [0, 0, 0, 0.625, 0.375, 0]); // 0.5 + 0.3 reaches 0.7
    near(await shares({ topP: 0.9 }), [0, 0, 0, 0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95]); // [EOT]'s 0.05 is the tail
  });

  it('temperature T: probabilities ∝ p^(1/T)', async () => {
    const tempered = (T: number) => {
      const w = P.map((p) => (p > 0 ? p ** (1 / T) : 0));
      const z = w.reduce((a, b) => a + b, 0);
      return w.map((x) => x / z);
    };
    near(await shares({ temperature: 0.5 }), tempered(0.5));
    near(await shares({ temperature: 2 }), tempered(2));
  });

  it("reports the model's own log-probability of the drawn token, whatever restricts the draw", async () => {
    const [c] = await greedyOrSample(fixedStepper(1), 2, { maxLen: 2, sample: { topK: 1, temperature: 0.3, seed: 5 } });
    expect(c!.tokens).toEqual([1, 3]);
    expect(c!.logprobs[0]).toBeCloseTo(Math.log(0.5), 6);
    expect(c!.score).toBeCloseTo(Math.log(0.5), 6);
  });
});
