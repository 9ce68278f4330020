// `coca bench openclip-beam --sizes CHECKPOINT`: one 224 px picture captioned by an imported
// open_clip CoCa with open_clip's default beam search (generate(): 6 beams, seq_len 30,
// min_seq_len 5, as `coca caption --min-len 4 --allow-sot`; README: open_clip), timed as a user
// waits for it: image encode plus the search, median over the runs after a warm-up. Beside it,
// when CPU references may run (--blas, the default) and COCA_OPEN_CLIP_SRC and
// COCA_TRANSFORMERS_SRC name open_clip's src/open_clip and transformers' src, open_clip's own
// generate() on the same picture and weights on this machine's CPU (Debian's python3-torch;
// scripts/bench/openclip_beam_caption.py), once, after the GPU measurements. A picture whose
// tokens differ from open_clip's counts as failed.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { captionImages } from '../infer/caption.ts';
import { loadCheckpoint, readCheckpointTokenizer } from '../model/checkpoint.ts';
import { Rng } from '../util/prng.ts';
import { BenchInputError, caseProgress, fmt, printTable, type BenchFamily } from '../../kernels/bench/harness.ts';

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'scripts', 'bench', 'openclip_beam_caption.py');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

interface OpenClipRun {
  seconds: number;
  tokens: number[];
  threads: number;
  torch: string;
}

// open_clip's generate() defaults in coca's terms.
const OPEN_CLIP_DEFAULTS = { beams: 6, maxLen: 30, minLen: 4, lengthPenalty: 1, repetitionPenalty: 1, sotAllowed: true };

export const openclipBeamBench: BenchFamily = {
  name: 'openclip-beam',
  describe: "one picture captioned by an imported open_clip CoCa with open_clip's default beam search (--sizes CHECKPOINT); open_clip's generate() on the CPU beside it",
  async run(ctx) {
    const dir = ctx.sizes;
    if (!dir || !existsSync(join(dir, 'config.json'))) {
      if (dir) throw new BenchInputError(`--sizes ${dir}: not a checkpoint folder; give one written by coca import open_clip`);
      console.log('  skipped: give an imported checkpoint with --sizes DIR (coca import open_clip ...)');
      return { failed: 0, report: { skipped: true } };
    }
    const model = loadCheckpoint(ctx.gpu, dir);
    const tokenizer = readCheckpointTokenizer(dir, model.config);
    if (!tokenizer) throw new BenchInputError(`--sizes ${dir}: no tokenizer.json; give a folder written by coca import open_clip`);
    const ids = tokenizer.searchIds();
    const S = model.config.vision_cfg.image_size;
    const rng = new Rng(ctx.seed);
    const picture = Float32Array.from({ length: 3 * S * S }, () => rng.normal());
    const runs = Math.max(1, Math.min(ctx.runs, 5));
    const seconds: number[] = [];
    let tokens: number[] = [];
    const p = caseProgress(`${dir}: 1 picture, open_clip's default beam search, ${runs} runs after a warm-up`);
    for (let r = 0; r <= runs; r++) {
      const t0 = performance.now();
      const [c] = await captionImages(model, picture, 1, { ...OPEN_CLIP_DEFAULTS, ...ids, pad: -1 });
      if (r > 0) seconds.push((performance.now() - t0) / 1000); // run 0 compiles the pipelines
      tokens = c!.tokens;
    }
    const coca = { seconds: median(seconds), tokens: tokens.length - 1 };
    p.done(`${fmt(coca.seconds, 1)} s for ${coca.tokens} tokens`);
    model.params.release();
    let torch: OpenClipRun | null = null;
    let note: string | undefined;
    const src = process.env['COCA_OPEN_CLIP_SRC'];
    if (!ctx.blas) note = 'open_clip column skipped (--no-blas)';
    else if (!src || !process.env['COCA_TRANSFORMERS_SRC']) note = 'open_clip column skipped: set COCA_OPEN_CLIP_SRC (open_clip/src/open_clip) and COCA_TRANSFORMERS_SRC (transformers/src)';
    else {
      const q = caseProgress("open_clip's generate() on the CPU, same model and picture");
      const tmp = mkdtempSync(join(tmpdir(), 'coca-bench-beam-'));
      try {
        const file = join(tmp, 'picture.f32');
        writeFileSync(file, new Uint8Array(picture.buffer));
        const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
        const r = spawnSync(python, [SCRIPT, src, dir, file, String(ids.sot), String(ids.eot)], { encoding: 'utf8', timeout: 7_200_000 });
        if (r.error || r.status !== 0) note = `open_clip column skipped: ${python} failed (${r.error?.message ?? r.stderr.trim().split('\n').pop()})`;
        else torch = JSON.parse(r.stdout.trim().split('\n').pop()!) as OpenClipRun;
      } finally {
        rmSync(tmp, { recursive: true, force: true });
      }
      q.done(torch ? `${fmt(torch.seconds, 1)} s for ${torch.tokens.length - 1} tokens (torch ${torch.torch}, ${torch.threads} threads)` : note!);
    }
    const same = torch ? JSON.stringify(torch.tokens) === JSON.stringify(tokens) : null;
    console.log();
    printTable(
      ['', 'caption s', 'tokens', 'tokens/s'],
      [
        ['coca (GPU adapter, KV cache)', fmt(coca.seconds, 1), String(coca.tokens), fmt(coca.tokens / coca.seconds, 2)],
        ...(torch
          ? [
              ["open_clip generate() (CPU)", fmt(torch.seconds, 1), String(torch.tokens.length - 1), fmt((torch.tokens.length - 1) / torch.seconds, 3)],
              ['coca faster by', `×${fmt(torch.seconds / coca.seconds, 2)}`, same ? 'same tokens' : 'TOKENS DIFFER', ''],
            ]
          : []),
      ],
      1,
    );
    if (note) console.log(`  ${note}`);
    return { failed: same === false ? 1 : 0, report: { checkpoint: dir, search: OPEN_CLIP_DEFAULTS, coca: { ...coca, tokens }, open_clip: torch, same_tokens: same, note } };
  },
};
