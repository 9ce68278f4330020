// `coca train --resume RUN` of a showtell or sat run: its own recorded options (run.json), as
// CoCa's resume takes them (src/train/resume.ts): an option given again with the same value is
// fine, one that contradicts the record is refused unless --override names it, and what fixes the
// run's model, data and place in the data (config, data, batch, seed, preprocessing) never changes.
import fs from 'node:fs';
import path from 'node:path';
import { parseLstmConfig, type LstmConfig } from '../model/captioners/config.ts';
import type { CaptionerTrainOptions } from '../train/captioner-trainer.ts';
import { runOf } from '../train/resume.ts';
import { CocaError } from '../util/errors.ts';

type Recorded = Omit<CaptionerTrainOptions, 'progress' | 'resume' | 'stopAfter'>;

const FIXED_MODEL = 'the model of a run cannot change; start a new run with --out';
const FIXED_DATA = "the data of a run and its place in it cannot change (they are part of the checkpoint); start a new run with --out";
const FIXED_PRE = "the preprocessing is the model's (recorded in its config.json); start a new run with --out";

/** Command-line option → the recorded field it sets, and why it cannot change where it cannot. */
const SETTINGS: Record<string, { key: keyof Recorded; fixed?: string; sub?: 'mean' | 'std' | 'resizeMode' }> = {
  preset: { key: 'configName', fixed: FIXED_MODEL },
  config: { key: 'configName', fixed: FIXED_MODEL },
  data: { key: 'data', fixed: FIXED_DATA },
  batch: { key: 'batch', fixed: FIXED_DATA },
  seed: { key: 'seed', fixed: FIXED_DATA },
  'image-mean': { key: 'preprocess', sub: 'mean', fixed: FIXED_PRE },
  'image-std': { key: 'preprocess', sub: 'std', fixed: FIXED_PRE },
  'image-resize-mode': { key: 'preprocess', sub: 'resizeMode', fixed: FIXED_PRE },
  steps: { key: 'steps' },
  lr: { key: 'lr' },
  warmup: { key: 'warmup' },
  'weight-decay': { key: 'weightDecay' },
  clip: { key: 'clip' },
  'val-every': { key: 'valEvery' },
  keep: { key: 'keep' },
};

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** The run folder of --resume and the options it continues with; `a` holds what was typed. */
export function lstmResumeOptions(resume: string, a: Record<string, unknown>, overrides: readonly string[]): { run: string; options: Recorded & { config: LstmConfig } } {
  const run = runOf(resume);
  const file = path.join(run, 'run.json');
  let r: Recorded & { arch?: string };
  try {
    r = JSON.parse(fs.readFileSync(file, 'utf8')) as Recorded;
  } catch (e) {
    throw new CocaError(`${file}: cannot read the run's record (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); the run cannot be resumed`);
  }
  const config = parseLstmConfig(r.config, `${file}: config`);
  for (const k of ['configName', 'data', 'steps', 'batch', 'lr', 'warmup', 'weightDecay', 'beta1', 'beta2', 'eps', 'clip', 'seed', 'valEvery', 'keep'] as const) {
    if (r[k] === undefined) throw new CocaError(`${file} records no ${k}; the run cannot be resumed as it was`);
  }
  if (a['out'] !== undefined && path.resolve(String(a['out'])) !== path.resolve(run)) throw new CocaError(`--out ${String(a['out'])} with --resume: a resumed run continues in its own folder (${run}); drop --out`);
  for (const name of overrides) {
    const s = SETTINGS[name];
    if (!s) throw new CocaError(`--override ${name}: not an option a resume of --arch ${config.arch} can change (one of: ${Object.keys(SETTINGS).filter((k) => !SETTINGS[k]!.fixed).join(', ')})`);
    if (s.fixed) throw new CocaError(`--override ${name}: ${s.fixed}`);
    if (a[name] === undefined) throw new CocaError(`--override ${name} names an option not given; add --${name} VALUE`);
  }
  const o: Recorded & { config: LstmConfig } = { ...r, config, preprocess: { ...r.preprocess } };
  for (const [name, s] of Object.entries(SETTINGS)) {
    const value = a[name];
    if (value === undefined) continue;
    const recorded = s.sub ? o.preprocess?.[s.sub] : o[s.key];
    if (same(recorded, value)) continue;
    if (s.fixed) throw new CocaError(`--${name} ${String(value)} contradicts the run's ${JSON.stringify(recorded ?? null)} (${file}): ${s.fixed}`);
    if (!overrides.includes(name)) throw new CocaError(`--${name} ${String(value)} contradicts the run's ${JSON.stringify(recorded)} (${file}); drop it to continue the run as it was, or add --override ${name} to change it`);
    (o as unknown as Record<string, unknown>)[s.key] = value;
  }
  return { run, options: o };
}
