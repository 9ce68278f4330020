// Captions from an LSTM or prefix captioner's checkpoint (Show and Tell, Show-Attend-Tell, prefix) for `coca serve`
// beside CoCa's: the same jobs, batching and answer shape as Engine.caption, on the shared queue.
// Show-Attend-Tell's per-word α is the overlay; Show and Tell and the prefix captioner look at
// no map, so their tokens carry none.
import { captionWithLstm } from '../infer/lstm-caption.ts';
import { DEFAULT_SEARCH, sampleSeeds } from '../infer/search.ts';
import type { OpenCaptioner } from '../model/captioners/checkpoint.ts';
import type { CaptionJob, CaptionOut, Token } from './engine.ts';
import type { GpuQueue } from './queue.ts';

const round = (x: number, d = 1000) => Math.round(x * d) / d;

export class LstmEngine {
  constructor(
    readonly ck: OpenCaptioner,
    readonly queue: GpuQueue,
    /** Keeps this model's jobs out of other models' batches. */
    readonly key: string,
  ) {}

  /** Side of the attention grid; 0 for a model with no attention over the picture. */
  get grid(): number {
    return this.ck.model.arch === 'sat' ? this.ck.model.encoder.grid : 0;
  }

  caption(job: CaptionJob): Promise<CaptionOut[]> {
    const { sample, ...rest } = job.search;
    const shared = sample ? { ...rest, sample: { ...sample, seed: undefined } } : rest;
    const group = `caption@${this.key}:${JSON.stringify(shared)}:${job.attention}:${job.lang ?? ''}`;
    return this.queue.submit(group, job, (jobs) => this.captionBatch(jobs));
  }

  private async captionBatch(jobs: CaptionJob[]): Promise<CaptionOut[][]> {
    const { model, tokenizer } = this.ck;
    const per = jobs[0]!.image.length;
    const rows = jobs.reduce((n, j) => n + j.n, 0);
    const images = new Float32Array(rows * per);
    let r = 0;
    for (const j of jobs) for (let k = 0; k < j.n; k++) images.set(j.image, per * r++);
    const { search, attention, lang } = jobs[0]!;
    const sample = search.sample && { ...search.sample, rowSeeds: jobs.flatMap((j) => sampleSeeds(j.search.sample!.seed ?? DEFAULT_SEARCH.seed, j.n)) };
    const withMaps = attention && this.grid > 0;
    const caps = await captionWithLstm(model, images, rows, { ...search, ...tokenizer.searchIds(lang), ...(sample ? { sample } : {}), recordAttention: withMaps });
    r = 0;
    return jobs.map((j) =>
      Array.from({ length: j.n }, () => {
        const c = caps[r++]!;
        return {
          text: tokenizer.decode(c.tokens),
          score: c.score,
          tokens: c.tokens.slice(1).map((id, k) => {
            const t: Token = { id, text: id === tokenizer.eosId ? '[EOT]' : tokenizer.decode([id]), logprob: c.logprobs[k]! };
            const alpha = withMaps ? c.attention?.[k] : undefined;
            if (alpha) {
              const top = Math.max(...alpha) || 1;
              t.map = Array.from(alpha, (x) => round(x / top));
            }
            return t;
          }),
        };
      }),
    );
  }
}
