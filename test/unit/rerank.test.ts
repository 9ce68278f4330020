// Re-ranking beam search's captions (src/infer/rerank.ts) without a GPU: a hand-built language
// model whose two finished beams are known, and a made-up similarity that prefers the second, so
// the re-ranker must overturn the search; the combined score's arithmetic on chosen numbers; the
// rows the text tower reads; and every refusal of the options, in one line, in coca caption and
// coca eval (before any GPU work), with --help saying the options and their defaults.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import yargs from 'yargs';
import { captionCommand, searchOptions } from '../../src/cli/caption.ts';
import { evalCommand } from '../../src/cli/eval.ts';
import { failureLines } from '../../src/cli/failure.ts';
import { captionTextRows, checkRerank, chooseCandidate, DEFAULT_RERANK_WEIGHT, rerankScore } from '../../src/infer/rerank.ts';
import { beamSearch, beamSearchCandidates, checkSearch, SearchError, type Caption } from '../../src/infer/search.ts';
import type { Stepper } from '../../src/infer/stepper.ts';

const PAD = 0;
const SOT = 1;
const EOT = 2;
const A = 3;
const B = 4;
const V = 5;

/**
 * After [SOT]: A with probability 0.6, B with 0.4; after either, [EOT] for certain. Beam search
 * with two beams finishes [SOT] A [EOT] (score ln 0.6 / 2) ahead of [SOT] B [EOT] (ln 0.4 / 2).
 */
class TwoCaptions implements Stepper {
  readonly vocab = V;
  readonly rows: number;
  private prefix: number[][];
  constructor(readonly beams: number, images = 1) {
    this.rows = beams * images;
    this.prefix = Array.from({ length: this.rows }, () => []);
  }
  get length(): number {
    return this.prefix[0]!.length;
  }
  async step(tokens: Int32Array): Promise<Float32Array> {
    const out = new Float32Array(this.rows * V).fill(-Infinity);
    this.prefix.forEach((p, n) => {
      p.push(tokens[n]!);
      const row = out.subarray(n * V, (n + 1) * V);
      if (p.length === 1) [row[A], row[B]] = [Math.log(0.6), Math.log(0.4)];
      else row[EOT] = 0;
    });
    return out;
  }
  reorder(parents: Int32Array): void {
    this.prefix = Array.from(parents, (p) => [...this.prefix[p]!]);
  }
  crossAttention(): Float32Array | null {
    return null;
  }
  release(): void {}
}

const cap = (score: number, tokens = [SOT, A, EOT]): Caption => ({ tokens, logprobs: [], score });

describe('the hand-built case: the re-ranker must pick the second beam', () => {
  it("beam search keeps both finished captions, best first; a similarity favouring the second overturns the search's choice", async () => {
    const [cands] = await beamSearchCandidates(new TwoCaptions(2), 6, { maxLen: 6 });
    expect(cands!.map((c) => c.tokens)).toEqual([
      [SOT, A, EOT],
      [SOT, B, EOT],
    ]);
    // The logits are float32: ln 0.6 to 7 digits.
    expect(cands!.map((c) => c.score)).toEqual([Math.log(0.6) / 2, Math.log(0.4) / 2].map((x) => expect.closeTo(x, 6)));
    // Without re-ranking: the search's own best, as before.
    expect((await beamSearch(new TwoCaptions(2), 6, { maxLen: 6 }))[0]!.tokens).toEqual([SOT, A, EOT]);
    const picked = chooseCandidate(cands!, [0.1, 0.5], 1);
    expect(picked.tokens).toEqual([SOT, B, EOT]);
    expect(picked.rerank).toEqual({ similarity: 0.5, score: 0.5, beamRank: 1 });
    expect(picked.score).toBeCloseTo(Math.log(0.4) / 2, 6);
    // α = 0 is the beam score alone: the search's choice.
    expect(chooseCandidate(cands!, [0.1, 0.5], 0).tokens).toEqual([SOT, A, EOT]);
  });

  it('K finished captions per picture at most, each picture its own', async () => {
    const all = await beamSearchCandidates(new TwoCaptions(3, 2), 6, { maxLen: 6 });
    expect(all).toHaveLength(2);
    for (const c of all) expect(c.map((x) => x.tokens)).toEqual([
      [SOT, A, EOT],
      [SOT, B, EOT],
    ]);
  });
});

describe('the combined score', () => {
  it('α·similarity + (1 − α)·beam score: at α = 0.5 the second wins, at α = 0.3 the first', () => {
    // 0.5·0.1 + 0.5·(−1) = −0.45 < 0.5·0.35 + 0.5·(−1.2) = −0.425; 0.3·0.1 − 0.7 = −0.67 > 0.105 − 0.84 = −0.735.
    const cands = [cap(-1), cap(-1.2, [SOT, B, EOT])];
    const half = chooseCandidate(cands, [0.1, 0.35], 0.5);
    expect(half.tokens).toEqual([SOT, B, EOT]);
    expect(half.rerank!.score).toBeCloseTo(-0.425, 12);
    const low = chooseCandidate(cands, [0.1, 0.35], 0.3);
    expect(low.tokens).toEqual([SOT, A, EOT]);
    expect(low.rerank).toEqual({ similarity: 0.1, score: expect.closeTo(-0.67, 12), beamRank: 0 });
  });

  it('a tie keeps the earlier beam; α = 1 ignores a −∞ beam score instead of making NaN', () => {
    expect(chooseCandidate([cap(-2), cap(-1, [SOT, B, EOT])], [0.3, 0.3], 1).rerank!.beamRank).toBe(0);
    expect(rerankScore(0.2, -Infinity, 1)).toBe(0.2);
    expect(rerankScore(0.2, -3, 0)).toBe(-3);
    expect(() => chooseCandidate([], [], 1)).toThrow(SearchError);
  });
});

describe('the rows the text tower reads', () => {
  it('[SOT] (language) words [EOT] padded; a caption cut by maxLen gets its [EOT]; too long, cut so that [EOT] stays last', () => {
    const rows = captionTextRows([[SOT, 7, 8, EOT], [SOT, 7, 8, 9], [SOT, 5, 6, 7, 8, 9, EOT]], { sot: SOT, eot: EOT, pad: PAD, prefix: [40] }, 6);
    expect(Array.from(rows)).toEqual([SOT, 40, 7, 8, EOT, PAD, SOT, 40, 7, 8, 9, EOT, SOT, 40, 5, 6, 7, EOT]);
    expect(Array.from(captionTextRows([[SOT, EOT]], { sot: SOT, eot: EOT, pad: 99 }, 4))).toEqual([SOT, EOT, 99, 99]);
  });
});

describe('checkRerank', () => {
  const beam = checkSearch({ beams: 4 });
  it('off unless asked; asked, the default weight', () => {
    expect(checkRerank({}, beam)).toBeUndefined();
    expect(checkRerank({ rerank: false }, beam)).toBeUndefined();
    expect(checkRerank({ rerank: true }, beam)).toEqual({ weight: DEFAULT_RERANK_WEIGHT });
    expect(checkRerank({ rerank: true, rerankWeight: 0 }, beam)).toEqual({ weight: 0 });
  });
  it('refuses, in one line each: a weight alone, a weight outside [0, 1], sampling, one beam', () => {
    const msg = (r: Parameters<typeof checkRerank>[0], s = beam) => {
      try {
        checkRerank(r, s);
      } catch (e) {
        expect(e).toBeInstanceOf(SearchError);
        return (e as Error).message;
      }
      throw new Error('accepted');
    };
    expect(msg({ rerankWeight: 0.5 })).toBe('rerankWeight weighs the re-ranking: add rerank, or leave it out');
    expect(msg({ rerank: true, rerankWeight: 1.5 })).toMatch(/^rerankWeight must be in \[0, 1\] .*got 1\.5$/);
    expect(msg({ rerank: true, rerankWeight: NaN })).toMatch(/^rerankWeight must be in \[0, 1\]/);
    expect(msg({ rerank: true }, checkSearch({ beams: 1 }))).toBe("rerank chooses among the beams' finished captions: give beams 2 or more (got 1)");
    expect(msg({ rerank: true }, checkSearch({ topP: 0.9 }))).toMatch(/^rerank re-ranks beam search's captions and sampling draws only one/);
  });
});

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-rerank-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A folder that reads as a checkpoint of `arch` (only its config is looked at before the refusal). */
function fakeCheckpoint(arch: string): string {
  const dir = path.join(tmp, arch);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ arch }));
  fs.writeFileSync(path.join(dir, 'model.safetensors'), '');
  return dir;
}

/** What `coca ARGS` prints on failure, run in this process; [] when it succeeds. */
async function refusal(args: string[]): Promise<string[]> {
  try {
    await yargs(args)
      .command(evalCommand)
      .command(captionCommand)
      .strict()
      .exitProcess(false)
      .fail((msg, err) => {
        throw err ?? new Error(msg);
      })
      .parseAsync();
  } catch (e) {
    return failureLines(e, false);
  }
  return [];
}

async function helpOf(args: string[]): Promise<string> {
  let text = '';
  await yargs()
    .command(evalCommand)
    .command(captionCommand)
    .exitProcess(false)
    .wrap(200)
    .parseAsync([...args, '--help'], {}, (_e: unknown, _a: unknown, out: string) => {
      text = out;
    });
  return text;
}

describe('the options on the command line', () => {
  it('coca caption: --rerank reaches the search; left out, the search is as before', () => {
    const args = { sample: false, batch: 8, json: false, 'allow-sot': false };
    expect(searchOptions({ ...args, beams: 3, rerank: true, 'rerank-weight': 0.25 })).toEqual({ maxLen: 30, minLen: 0, beams: 3, lengthPenalty: 1, repetitionPenalty: 1, rerank: { weight: 0.25 } });
    expect(searchOptions({ ...args, rerank: false })).toEqual({ maxLen: 30, minLen: 0, beams: 6, lengthPenalty: 1, repetitionPenalty: 1 });
  });

  it('refusals name the flags, one line each, before any GPU work', async () => {
    const pic = path.join(tmp, 'none.png');
    const coca = fakeCheckpoint('coca');
    expect(await refusal(['caption', pic, '--checkpoint', coca, '--beams', '1', '--rerank'])).toEqual(["coca: --rerank chooses among the beams' finished captions: give --beams 2 or more (got 1)"]);
    expect(await refusal(['caption', pic, '--checkpoint', coca, '--rerank-weight', '0.5'])).toEqual(['coca: --rerank-weight weighs the re-ranking: add --rerank, or leave it out']);
    expect(await refusal(['caption', pic, '--checkpoint', coca, '--rerank', '--rerank-weight', '2'])).toEqual(['coca: --rerank-weight must be in [0, 1] (1 = similarity alone, 0 = the beam score alone), got 2']);
    expect(await refusal(['caption', pic, '--checkpoint', coca, '--rerank', '--top-p', '0.9'])).toEqual(["coca: --rerank re-ranks beam search's captions and sampling draws only one: search with --beams 2 or more instead"]);
    const sat = fakeCheckpoint('sat');
    expect(await refusal(['caption', pic, '--checkpoint', sat, '--rerank'])).toEqual([`coca: --rerank: ${sat} holds a sat model, which has no text tower to measure image–text similarity with; drop --rerank (coca models have one)`]);
    // coca eval: greedy unless --beams, so --rerank alone is refused; the captioners without a text tower too.
    expect(await refusal(['eval', coca, '--rerank'])).toEqual(["coca: --rerank chooses among the beams' finished captions: give --beams 2 or more (got 1)"]);
    expect(await refusal(['eval', sat, '--beams', '3', '--rerank'])).toEqual([`coca: --rerank: ${sat} holds a sat model, which has no text tower to measure image–text similarity with; drop --rerank (coca models have one)`]);
    expect(await refusal(['eval', fakeCheckpoint('devise'), '--beams', '3', '--rerank'])).toEqual([expect.stringMatching(/holds a devise model, which does not caption; drop --rerank/)]);
    expect(await refusal(['eval', coca, '--beams', '0'])).toEqual(['coca: --beams must be an integer from 1 to 32, got 0']);
  });

  it('--help says the options and their defaults', async () => {
    const caption = await helpOf(['caption']);
    expect(caption).toMatch(/--rerank\s+choose among the beams' finished captions by the model's image–text similarity \(CoCa models; needs --beams 2 or more\)\s+\[boolean\] \[default: false\]/);
    expect(caption).toMatch(/--rerank-weight\s+α in score = α·similarity \+ \(1 − α\)·beam score \(the length-normalised log-prob\), from 0 to 1 \[default: 1\]/);
    expect(caption).toMatch(/caption dog\.jpg --beams 4 --rerank/);
    const evalHelp = await helpOf(['eval']);
    expect(evalHelp).toMatch(/--beams\s+beam width of the captions, 1 to 32; 1 = greedy \[default: 1\]/);
    expect(evalHelp).toMatch(/--rerank\s+choose among the beams' finished captions[^\n]*\[default: false\]/);
    expect(evalHelp).toMatch(/--rerank-weight\s+α in score[^\n]*\[default: 1\]/);
  });
});
