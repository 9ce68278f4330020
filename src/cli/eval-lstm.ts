// `coca eval` on a checkpoint of an LSTM or prefix captioner: captioning scores per split (src/eval/captioner.ts),
// the same table, JSON and caption sheet as CoCa's.
import fs from 'node:fs';
import path from 'node:path';
import { listSplits } from '../data/index.ts';
import { evalCaptionerSplit, type CaptionerEvalContext } from '../eval/captioner.ts';
import { renderReport, type EvalSection } from '../eval/report.ts';
import { writeCaptionSheet } from '../eval/sheet.ts';
import { Gpu } from '../gpu/gpu.ts';
import type { CheckedSearch } from '../infer/search.ts';
import { openCaptioner } from '../model/captioners/checkpoint.ts';
import { claimOutputFolder } from '../util/outdir.ts';
import { asInput } from './data.ts';

export interface LstmEvalArgs {
  data: string;
  split?: string;
  json?: string;
  captions?: string;
  'max-items'?: number;
  batch: number;
  strict: boolean;
}

export async function evalLstmCommand(dir: string, a: LstmEvalArgs, search: CheckedSearch): Promise<void> {
  const gpu = await Gpu.open();
  try {
    const ck = openCaptioner(gpu, dir);
    const ctx: CaptionerEvalContext = { model: ck.model, tokenizer: ck.tokenizer, pre: ck.pre, strict: a.strict, batch: a.batch, maxItems: a['max-items'], search, log: (l) => console.error(l), captions: a.captions ? [] : undefined };
    const available = listSplits(a.data);
    const wanted = a.split?.split(',').map((s) => s.trim()) ?? ['test-concept', 'test-style', 'test', 'val'].filter((s) => available.includes(s)).slice(0, 2);
    console.error(`coca eval: ${dir} (${ck.model.arch}) on ${a.data} (${wanted.join(', ')})`);
    const sections: EvalSection[] = [];
    for (const split of wanted) {
      const s = await evalCaptionerSplit(ctx, a.data, split);
      if (s) sections.push(s);
    }
    const { text, json } = renderReport(sections);
    console.log(text);
    if (a.json) {
      fs.mkdirSync(path.dirname(a.json), { recursive: true });
      fs.writeFileSync(a.json, JSON.stringify({ checkpoint: dir, arch: ck.model.arch, data: a.data, ...json }, null, 2) + '\n');
      console.error(`wrote ${a.json}`);
    }
    if (a.captions && ctx.captions) {
      const out = claimOutputFolder(a.captions, 'coca eval --captions', { option: '--captions', inputs: [dir, asInput(a.data), a.json] });
      await writeCaptionSheet(out, `coca eval: ${dir} on ${a.data}`, ctx.captions, a.data);
      console.error(`wrote ${path.join(a.captions, 'captions.html')} and captions.json (${ctx.captions.length} pictures)`);
    }
    ck.release();
  } finally {
    gpu.destroy();
  }
}
