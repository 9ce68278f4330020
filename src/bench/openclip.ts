// `coca bench openclip --sizes CHECKPOINT`: captioning one 224 px picture with an imported open_clip
// CoCa (the full coca_ViT-B-32 shapes: `coca import open_clip`), split as a user waits for it:
// image encode, first token (the cross-attention keys and values are projected there), then
// tokens/s over the next 29 greedy tokens (all 30 generated: [EOT] held back). Beside it, when
// CPU references may run (--blas, the default) and COCA_OPEN_CLIP_SRC names open_clip's
// src/open_clip, the same model in open_clip on this machine's CPU (Debian's python3-torch;
// scripts/bench/openclip_caption.py): its image encode, and its decoding as open_clip's
// generate does it (transformers' loop with use_cache=False: every step reruns the text tower and
// the decoder over the whole prefix), run after the GPU measurements, never beside them.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadCheckpoint, readCheckpointTokenizer } from '../model/checkpoint.ts';
import { CachedStepper } from '../infer/kvcache.ts';
import { noGrad } from '../tensor/tape.ts';
import { tidy } from '../tensor/tensor.ts';
import { Rng } from '../util/prng.ts';
import { BenchInputError, caseProgress, fmt, printTable, type BenchFamily } from '../../kernels/bench/harness.ts';

const MAX_TOKENS = 30;
const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'scripts', 'bench', 'openclip_caption.py');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

interface Timing {
  encodeMs: number;
  firstTokenMs: number;
  tokensPerSec: number;
}

export const openclipBench: BenchFamily = {
  name: 'openclip',
  describe: 'one picture captioned by an imported open_clip CoCa (--sizes CHECKPOINT): image encode, first token, tokens/s; open_clip on the CPU beside it',
  async run(ctx) {
    const dir = ctx.sizes;
    if (!dir || !existsSync(join(dir, 'config.json'))) {
      if (dir) throw new BenchInputError(`--sizes ${dir}: not a checkpoint folder; give one written by coca import open_clip`);
      console.log('  skipped: give an imported checkpoint with --sizes DIR (coca import open_clip ...)');
      return { failed: 0, report: { skipped: true } };
    }
    const model = loadCheckpoint(ctx.gpu, dir);
    const TOKENS = Math.min(MAX_TOKENS, model.config.text_cfg.context_length - 1);
    const S = model.config.vision_cfg.image_size;
    const rng = new Rng(ctx.seed);
    const images = Float32Array.from({ length: 3 * S * S }, () => rng.normal());
    const sot = readCheckpointTokenizer(dir, model.config)?.bosId ?? 1;
    const runs = Math.max(1, Math.min(ctx.runs, 5));
    const enc: number[] = [];
    const first: number[] = [];
    const rest: number[] = [];
    const p = caseProgress(`${dir}: 1 picture, ${TOKENS} greedy tokens, ${runs} runs after a warm-up`);
    for (let r = 0; r <= runs; r++) {
      let t0 = performance.now();
      const patches = model.preparePatches(images, 1);
      const image = noGrad(() => tidy(() => model.encodeImage(patches)));
      await image.tokens.toArray(); // the encode has finished on the GPU
      const tEnc = performance.now() - t0;
      const stepper = new CachedStepper(model, image.tokens, { beams: 1, maxLen: TOKENS + 1 });
      t0 = performance.now();
      let logits = await stepper.step(Int32Array.of(sot));
      const tFirst = performance.now() - t0;
      t0 = performance.now();
      for (let k = 1; k < TOKENS; k++) {
        let best = 0;
        for (let v = 1; v < logits.length; v++) if (logits[v]! > logits[best]!) best = v;
        logits = await stepper.step(Int32Array.of(best));
      }
      const tRest = performance.now() - t0;
      stepper.release();
      patches.release();
      image.embedding.release();
      image.tokens.release();
      if (r === 0) continue; // run 0 compiles the pipelines
      enc.push(tEnc);
      first.push(tFirst);
      rest.push(tRest);
    }
    const coca: Timing = { encodeMs: median(enc), firstTokenMs: median(first), tokensPerSec: (TOKENS - 1) / (median(rest) / 1000) };
    p.done(`encode ${fmt(coca.encodeMs, 0)} ms, first token ${fmt(coca.firstTokenMs, 0)} ms, ${fmt(coca.tokensPerSec, 1)} tokens/s`);
    model.params.release();
    let torch: (Timing & { threads: number; torch: string }) | null = null;
    let note: string | undefined;
    const src = process.env['COCA_OPEN_CLIP_SRC'];
    if (!ctx.blas) note = 'open_clip column skipped (--no-blas)';
    else if (!src) note = 'open_clip column skipped: set COCA_OPEN_CLIP_SRC to open_clip/src/open_clip';
    else {
      const q = caseProgress('open_clip on the CPU, same model and input');
      const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
      const r = spawnSync(python, [SCRIPT, src, dir, String(TOKENS), String(runs), String(ctx.seed), String(sot)], { encoding: 'utf8', timeout: 3_600_000 });
      if (r.error || r.status !== 0) note = `open_clip column skipped: ${python} failed (${r.error?.message ?? r.stderr.trim().split('\n').pop()})`;
      else torch = JSON.parse(r.stdout.trim().split('\n').pop()!) as Timing & { threads: number; torch: string };
      q.done(torch ? `encode ${fmt(torch.encodeMs, 0)} ms, first token ${fmt(torch.firstTokenMs, 0)} ms, ${fmt(torch.tokensPerSec, 2)} tokens/s (torch ${torch.torch}, ${torch.threads} threads)` : note!);
    }
    console.log();
    const ratio = (a: number, b: number) => `×${fmt(a / b, 2)}`;
    printTable(
      ['', 'image encode ms', 'first token ms', 'tokens/s'],
      [
        ['coca (GPU adapter, KV cache)', fmt(coca.encodeMs, 0), fmt(coca.firstTokenMs, 0), fmt(coca.tokensPerSec, 1)],
        ...(torch
          ? [
              ['open_clip (CPU, generate loop)', fmt(torch.encodeMs, 0), fmt(torch.firstTokenMs, 0), fmt(torch.tokensPerSec, 2)],
              ['coca faster by', ratio(torch.encodeMs, coca.encodeMs), ratio(torch.firstTokenMs, coca.firstTokenMs), ratio(coca.tokensPerSec, torch.tokensPerSec)],
            ]
          : []),
      ],
      1,
    );
    if (note) console.log(`  ${note}`);
    return { failed: 0, report: { checkpoint: dir, tokens: TOKENS, coca, open_clip: torch, note } };
  },
};
