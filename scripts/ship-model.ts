// Ships a trained checkpoint as coca's built-in model, in one command:
//
//   npx tsx scripts/ship-model.ts CHECKPOINT [--out models/builtin] [--log FILE] [--eval eval.json]
//                                 [--picture test/fixtures/builtin/dog-face-twitter-64.png]
//
// CHECKPOINT is a folder written by `coca train` (runs/<run>/checkpoints/last, best or step-N). The
// folder written (models/builtin/ by default, replaced whole or not at all) holds:
//   model.safetensors     the weights in half precision (the logit scale float32), a few MB
//   config.json, tokenizer.json   as trained
//   run.json              the run's options (the training command, option by option)
//   log.jsonl[.gz]        the training log up to the shipped step (gzipped when large)
//   eval.json             `coca eval --json` figures, when given with --eval
//   expected-caption.json the greedy caption of a fixed picture, computed here through the caption
//                         path; test/model/builtin-model.test.ts recomputes it token for token
//   ship.json             what it is, for code (preset, steps, interim or not)
//   README.md             the same for people, and how to replace it
//   manifest.json         size and sha256 of every file above: loading checks them all
// The optimiser state is never shipped. Nothing is written when a check fails (a source
// checkpoint whose manifest does not hold, a weight outside half precision's range, no log).
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { languageOfToken } from '../src/data/lang.ts';
import { Gpu } from '../src/gpu/gpu.ts';
import { EXPECTED_CAPTION_FORMAT, GREEDY_SEARCH, greedyCaption, type ExpectedCaption } from '../src/infer/expected-caption.ts';
import { openCheckpoint } from '../src/infer/load.ts';
import { EXPECTED_CAPTION, SHIP_FORMAT, SHIP_INFO, type ShipInfo } from '../src/model/builtin.ts';
import { MANIFEST, manifestText, type ManifestEntry } from '../src/model/checkpoint-files.ts';
import { readManifest, sha256File } from '../src/model/checkpoint-folder.ts';
import { readCheckpointConfig } from '../src/model/checkpoint.ts';
import { toHalfWeights, type HalfReport } from '../src/model/half-weights.ts';
import { readSafetensors, writeSafetensors } from '../src/model/safetensors.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DEFAULT_PICTURE = 'test/fixtures/builtin/dog-face-twitter-64.png';
const PICTURE_ABOUT = 'twitter/1f436 "dog face", item 347 of the full built-in set\'s test-concept split (a concept held out of training), 64 px';
/** Logs above this are gzipped: the full run's log is about 1 MB of JSON lines. */
const GZIP_OVER = 256 * 1024;

class ShipError extends Error {}

interface RunJson {
  configName?: string;
  data?: string;
  steps?: number;
  batch?: number;
  params?: number;
  [k: string]: unknown;
}

function readJson<T>(file: string, what: string): T {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch (e) {
    throw new ShipError(`${file}: cannot read ${what} (${(e as Error).message.split('\n')[0]})`);
  }
}

/** The files of a checkpoint that are shipped (converted or copied). */
const SHIPPED_SOURCES = ['model.safetensors', 'config.json', 'tokenizer.json'];

/**
 * The source files that are shipped or read (state.json) must be the ones its manifest names; the
 * optimiser state is never shipped, so a copy of the checkpoint without it is fine.
 */
function verifySources(src: string): void {
  const m = readManifest(src)!;
  for (const f of [...SHIPPED_SOURCES, 'state.json']) {
    const e = m.files.find((x) => x.file === f);
    const file = path.join(src, f);
    if (!e) {
      if (f === 'state.json' && !fs.existsSync(file)) continue;
      throw new ShipError(`${file} is not listed in ${path.join(src, MANIFEST)}; the checkpoint is mixed or damaged: ship another one`);
    }
    if (!fs.existsSync(file)) throw new ShipError(`${file} is missing though ${MANIFEST} lists it; the checkpoint is incomplete: ship another one`);
    if (fs.statSync(file).size !== e.bytes || sha256File(file) !== e.sha256) throw new ShipError(`${file} does not match ${path.join(src, MANIFEST)} (size or sha256); the checkpoint is mixed or damaged: ship another one`);
  }
}

/** The step the checkpoint holds: state.json, else its manifest. */
function checkpointStep(dir: string): number {
  const state = path.join(dir, 'state.json');
  const step = fs.existsSync(state) ? readJson<{ step?: number }>(state, 'the run state').step : readJson<{ step?: number }>(path.join(dir, MANIFEST), 'the manifest').step;
  if (!Number.isInteger(step)) throw new ShipError(`${dir}: neither state.json nor manifest.json says which step the checkpoint holds; ship a checkpoint written by coca train`);
  return step!;
}

/** The log's lines up to `step` (a resumed run may have logged past the shipped weights). */
function logUpTo(file: string, step: number): { text: string; lines: number } {
  const kept = fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .filter((l) => {
      try {
        const s = (JSON.parse(l) as { step?: unknown }).step;
        return typeof s !== 'number' || s <= step;
      } catch {
        throw new ShipError(`${file}: a line is not JSON (${l.slice(0, 60)}); give the run's log.jsonl with --log`);
      }
    });
  return { text: kept.join('\n') + '\n', lines: kept.length };
}

/** The caption languages a tokenizer.json has tokens for ([lang:ru] …), in its order; none for an English-only one. */
function tokenizerLanguages(file: string): string[] {
  const t = readJson<{ added_tokens?: { content?: string }[] }>(file, 'the tokenizer');
  return (t.added_tokens ?? []).flatMap((a) => languageOfToken(a.content ?? '') ?? []);
}

/** `coca train` options equivalent to run.json's record (run.json stays the exact one). */
function trainCommand(run: RunJson): string {
  const w = (run.weights ?? {}) as { caption?: number; contrastive?: number };
  const opts: [string, unknown][] = [
    ['preset', run.configName],
    ['data', run.data],
    ['steps', run.steps],
    ['batch', run.batch],
    ['lr', run.lr],
    ['warmup', run.warmup],
    ['weight-decay', run.weightDecay],
    ['clip', run.clip],
    ['caption-weight', w.caption],
    ['contrastive-weight', w.contrastive],
    ['seed', run.seed],
    ['val-every', run.valEvery],
    ['out', run.out],
  ];
  return ['coca train', ...opts.filter(([, v]) => v !== undefined).map(([k, v]) => `--${k} ${v}`)].join(' ');
}

interface EvalSection {
  title: string;
  sizes?: Record<string, number>;
  rows: { name: string; metrics: Record<string, number> }[];
}

/** One line per section of `coca eval --json`: coca's text→image R@10 and CIDEr-D beside the nearest-neighbour caption's, or its top-1/top-5. */
function evalTable(evalJson: unknown): string {
  const sections = ((evalJson as { sections?: EvalSection[] })?.sections ?? []).filter((s) => Array.isArray(s.rows));
  const pct = (x: number | undefined) => (x === undefined ? '—' : `${(100 * x).toFixed(1)} %`);
  const num = (x: number | undefined) => (x === undefined ? '—' : x.toFixed(3));
  const lines = ['| section | size | T→I R@10 | CIDEr-D (nearest-neighbour caption) | top-1 / top-5 (chance) |', '|---|---|---|---|---|'];
  for (const s of sections) {
    const m = (name: string) => s.rows.find((r) => r.name === name)?.metrics ?? {};
    const coca = m('coca');
    const size = Object.entries(s.sizes ?? {}).map(([k, v]) => `${v} ${k}`).join(', ');
    const cider = coca['cider_d'] === undefined ? '—' : `${num(coca['cider_d'])} (${num(m('nearest-neighbour caption')['cider_d'])})`;
    const top = coca['top1'] === undefined ? '—' : `${pct(coca['top1'])} / ${pct(coca['top5'])} (${pct(m('chance')['top1'])} / ${pct(m('chance')['top5'])})`;
    lines.push(`| ${s.title} | ${size} | ${pct(coca['t2i_r10'])} | ${cider} | ${top} |`);
  }
  return lines.join('\n');
}

function readme(o: { info: ShipInfo; run: RunJson; logName: string; logLines: number; half: HalfReport; expected: ExpectedCaption; evalJson: unknown; bytes: number }): string {
  const { info, run } = o;
  const status = info.interim
    ? `**An interim checkpoint, not the finished model:** the weights of step ${info.step} of a ${info.runSteps}-step run, shipped while the run was still training so that coca captions and searches out of the box today. Replace it with the run's final checkpoint when it finishes (below).`
    : `The weights of the run's last step (${info.step} of ${info.runSteps}).`;
  const evalPart =
    o.evalJson === null
      ? 'No evaluation figures were shipped with it (`--eval` was not given). Measure it with `coca eval models/builtin --data builtin --json eval.json`.'
      : `Its evaluation, as \`coca eval --json\` wrote it, is in \`eval.json\` (every split and language, with baselines); the headline figures:\n\n${evalTable(o.evalJson)}`;
  return `# The built-in model

coca uses this model wherever no \`--checkpoint\` is given and no run exists under \`runs/\`
(\`coca caption\`, \`coca retrieve\`, \`coca serve\`, \`coca classify\`, \`coca index build\`; \`coca eval\`
always takes a checkpoint you name), saying so in one line on stderr. \`coca retrieve --text\` and
\`coca serve\` without an index search the built-in data's test pictures (test-concept and
test-style), embedded with this model on first use and cached under the data cache.

${status}

| | |
|---|---|
| preset | \`${info.preset}\` (${info.params.toLocaleString('en')} parameters) |
| training | step ${info.step} of ${info.runSteps}, batch ${info.batch}, data \`${info.data}\`${info.data === 'builtin' ? ' (the full built-in set)' : ''} |
| caption languages | ${info.languages.length ? info.languages.join(', ') + ' (the language tokens of its tokenizer; `coca caption --lang`)' : 'English (no language tokens)'} |
| weights | \`model.safetensors\`: ${o.half.f16} tensors in f16 (nearest, ties to even), ${o.half.f32.length ? `\`${o.half.f32.join('`, `')}\` kept f32` : 'none kept f32'}; largest weight ${o.half.maxAbs.toPrecision(4)}, largest relative rounding error ${o.half.maxRelError.toExponential(2)}, ${o.half.flushedToZero} tiny weights rounded to 0, ${o.half.subnormal} stored subnormal |
| source | the checkpoint of step ${info.step} of the run \`${String(run.out ?? 'unnamed')}\` (float32 model.safetensors sha256 \`${info.sourceSha256}\`) |
| shipped | ${info.shippedAt} by \`scripts/ship-model.ts\`; the folder is ${(o.bytes / 2 ** 20).toFixed(1)} MiB |

## How it was trained

By \`coca train\`; \`run.json\` records every option of the run. Equivalent command:

\`\`\`sh
${trainCommand(run)}
\`\`\`

\`${o.logName}\` is the run's training log (one JSON line per step: losses, learning rate, gradient
norm, speed), ${o.logLines} lines up to the shipped step.

## Evaluation

${evalPart}

## Checked

\`manifest.json\` lists the size and sha256 of every file here; loading the model checks them all
and refuses a folder that does not match. \`expected-caption.json\` is the greedy caption
(\`coca caption --beams 1\`) of \`${o.expected.picture.file}\` computed when the model was shipped:
"${o.expected.text}" (token ids ${JSON.stringify(o.expected.tokens)}; the float32 checkpoint it was converted from gives ${o.expected.sameAsFloat32Source ? 'the same tokens' : 'other tokens: half-precision rounding changed the greedy path'}).
\`test/model/builtin-model.test.ts\` checks the hashes, the f16 storage and that caption.

## Replacing it

Train a run, then ship its checkpoint; the folder is rewritten whole (this README included, so
edit \`scripts/ship-model.ts\`, not this file):

\`\`\`sh
npx tsx scripts/ship-model.ts runs/<run>/checkpoints/last --eval runs/<run>/eval.json
\`\`\`
`;
}

async function ship(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      out: { type: 'string', default: path.join(ROOT, 'models', 'builtin') },
      log: { type: 'string' },
      eval: { type: 'string' },
      picture: { type: 'string', default: path.join(ROOT, DEFAULT_PICTURE) },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help || positionals.length !== 1) {
    console.log(
      [
        'usage: npx tsx scripts/ship-model.ts CHECKPOINT [options]',
        '  CHECKPOINT       a checkpoint folder written by coca train (runs/<run>/checkpoints/last)',
        '  --out DIR        the folder to (re)write [default: models/builtin]',
        "  --log FILE       the run's training log [default: log.jsonl of the run folder, the checkpoint's grandparent]",
        '  --eval FILE      coca eval --json figures to ship beside it [default: none]',
        `  --picture FILE   the fixed picture whose greedy caption is recorded [default: ${DEFAULT_PICTURE}]`,
      ].join('\n'),
    );
    if (!values.help) process.exitCode = 2;
    return;
  }
  const src = path.resolve(positionals[0]!);
  const out = path.resolve(values.out!);
  if (!fs.existsSync(path.join(src, 'model.safetensors'))) throw new ShipError(`${src} holds no model.safetensors; give a checkpoint folder written by coca train (runs/<run>/checkpoints/last)`);
  if (!fs.existsSync(path.join(src, MANIFEST))) throw new ShipError(`${src} has no manifest.json, so its files cannot be checked; ship a checkpoint written by a coca that writes manifests`);
  verifySources(src);
  const config = readCheckpointConfig(src);
  const runDir = path.dirname(path.dirname(src));
  const runFile = [path.join(src, 'run.json'), path.join(runDir, 'run.json')].find((f) => fs.existsSync(f));
  if (!runFile) throw new ShipError(`no run.json in ${src} nor in its run folder ${runDir}; the training options must be shipped with the model`);
  const run = readJson<RunJson>(runFile, 'the run options');
  const logFile = values.log ?? path.join(runDir, 'log.jsonl');
  if (!fs.existsSync(logFile)) throw new ShipError(`no training log at ${logFile}; pass the run's log.jsonl with --log FILE`);
  const evalJson = values.eval ? readJson<unknown>(values.eval, 'the evaluation') : null;
  const picture = path.resolve(values.picture!);
  if (!fs.existsSync(picture)) throw new ShipError(`--picture ${picture}: no such file`);
  const step = checkpointStep(src);
  const runSteps = typeof run.steps === 'number' ? run.steps : step;

  const st = readSafetensors(path.join(src, 'model.safetensors'));
  const { tensors, report } = toHalfWeights(st, path.join(src, 'model.safetensors'));

  // Everything is written beside the target, then renamed into place: the old folder stays whole until then.
  const tmp = path.join(path.dirname(out), `.${path.basename(out)}.ship-${process.pid}`);
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  try {
    writeSafetensors(path.join(tmp, 'model.safetensors'), tensors, { ...st.metadata, weights: 'f16' });
    for (const f of ['config.json', 'tokenizer.json']) fs.copyFileSync(path.join(src, f), path.join(tmp, f));
    fs.copyFileSync(runFile, path.join(tmp, 'run.json'));
    const log = logUpTo(logFile, step);
    const logName = Buffer.byteLength(log.text) > GZIP_OVER ? 'log.jsonl.gz' : 'log.jsonl';
    fs.writeFileSync(path.join(tmp, logName), logName.endsWith('.gz') ? gzipSync(log.text, { level: 9 }) : log.text);
    if (evalJson !== null) fs.copyFileSync(values.eval!, path.join(tmp, 'eval.json'));
    const info: ShipInfo = {
      format: SHIP_FORMAT,
      preset: run.configName ?? 'custom',
      step,
      runSteps,
      interim: step < runSteps,
      batch: run.batch ?? 0,
      data: run.data ?? 'unknown',
      params: run.params ?? [...st.tensors.values()].reduce((n, t) => n + t.data.length, 0),
      languages: tokenizerLanguages(path.join(src, 'tokenizer.json')),
      sourceSha256: sha256File(path.join(src, 'model.safetensors')),
      shippedAt: new Date().toISOString(),
    };
    fs.writeFileSync(path.join(tmp, SHIP_INFO), JSON.stringify(info, null, 2) + '\n');
    const writeManifest = () => {
      const entries: ManifestEntry[] = fs
        .readdirSync(tmp)
        .filter((f) => f !== MANIFEST)
        .sort()
        .map((f) => ({ file: f, bytes: fs.statSync(path.join(tmp, f)).size, sha256: sha256File(path.join(tmp, f)) }));
      fs.writeFileSync(path.join(tmp, MANIFEST), manifestText(entries, step));
      return entries;
    };
    writeManifest();

    // The caption is the shipped (f16) model's, through the caption path; the source's is printed beside it.
    const gpu = await Gpu.open();
    let expected: ExpectedCaption;
    let sourceCaption: { tokens: number[]; text: string };
    try {
      const shipped = openCheckpoint(gpu, tmp);
      try {
        const c = await greedyCaption(shipped, picture);
        const bytes = fs.readFileSync(picture);
        expected = {
          format: EXPECTED_CAPTION_FORMAT,
          picture: { file: path.relative(ROOT, picture), sha256: createHash('sha256').update(bytes).digest('hex'), about: picture === path.join(ROOT, DEFAULT_PICTURE) ? PICTURE_ABOUT : path.basename(picture) },
          search: GREEDY_SEARCH,
          ...c,
        };
      } finally {
        shipped.release();
      }
      // The source's model files alone (checked above), so that a folder without its optimiser state loads too.
      const sourceCopy = path.join(tmp, '.float32-source');
      fs.mkdirSync(sourceCopy);
      for (const f of SHIPPED_SOURCES) fs.copyFileSync(path.join(src, f), path.join(sourceCopy, f));
      fs.writeFileSync(path.join(sourceCopy, MANIFEST), manifestText(readManifest(src)!.files.filter((e) => SHIPPED_SOURCES.includes(e.file)), step));
      const source = openCheckpoint(gpu, sourceCopy);
      try {
        sourceCaption = await greedyCaption(source, picture);
      } finally {
        source.release();
        fs.rmSync(sourceCopy, { recursive: true, force: true });
      }
    } finally {
      gpu.destroy();
    }
    const same = JSON.stringify(sourceCaption.tokens) === JSON.stringify(expected.tokens);
    expected.sameAsFloat32Source = same;
    fs.writeFileSync(path.join(tmp, EXPECTED_CAPTION), JSON.stringify(expected, null, 2) + '\n');
    const bytesSoFar = fs.readdirSync(tmp).reduce((n, f) => n + fs.statSync(path.join(tmp, f)).size, 0);
    fs.writeFileSync(path.join(tmp, 'README.md'), readme({ info, run, logName, logLines: log.lines, half: report, expected, evalJson, bytes: bytesSoFar }));
    const shippedSha = writeManifest().find((e) => e.file === 'model.safetensors')!.sha256;

    const old = fs.existsSync(out) ? path.join(path.dirname(out), `.${path.basename(out)}.old-${process.pid}`) : null;
    if (old) fs.renameSync(out, old);
    fs.renameSync(tmp, out);
    if (old) fs.rmSync(old, { recursive: true, force: true });

    const total = fs.readdirSync(out).reduce((n, f) => n + fs.statSync(path.join(out, f)).size, 0);
    console.log(`shipped ${src} → ${out} (${(total / 2 ** 20).toFixed(2)} MiB)`);
    console.log(`  ${info.preset}, step ${step} of ${runSteps}${info.interim ? ' (interim)' : ''}; model.safetensors sha256 ${shippedSha}`);
    console.log(`  f16: ${report.f16} tensors, f32: ${report.f32.join(', ') || 'none'}; max |w| ${report.maxAbs.toPrecision(4)}, max abs error ${report.maxAbsError.toExponential(2)}, max rel error ${report.maxRelError.toExponential(2)}, ${report.flushedToZero} flushed to 0, ${report.subnormal} subnormal`);
    console.log(`  greedy caption of ${expected.picture.file}: "${expected.text}" ${JSON.stringify(expected.tokens)}`);
    console.log(`  the float32 source's: "${sourceCaption.text}"${same ? ' (the same tokens)' : ` ${JSON.stringify(sourceCaption.tokens)} (differs: half-precision rounding changed the greedy path)`}`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

ship(process.argv.slice(2)).catch((e: unknown) => {
  const msg = e instanceof Error ? e.message.split('\n')[0] : String(e);
  console.error(`ship-model: ${msg}`);
  process.exitCode = 1;
});
