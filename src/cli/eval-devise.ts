// `coca eval` on a devise checkpoint: its zero-shot table (flat hit@1/5 and coverage beside chance)
// per split, in the same table and JSON as CoCa's zero-shot sections (src/eval/devise.ts).
import fs from 'node:fs';
import path from 'node:path';
import { listSplits } from '../data/index.ts';
import { deviseSection, deviseZeroShot } from '../eval/devise.ts';
import { renderReport, type EvalSection } from '../eval/report.ts';
import { Gpu } from '../gpu/gpu.ts';
import { openDevise } from '../model/devise-config.ts';
import { CocaError } from '../util/errors.ts';

export interface DeviseEvalArgs {
  data: string;
  split?: string;
  json?: string;
  captions?: string;
  'max-items'?: number;
  batch: number;
  strict: boolean;
}

/** The row's name: the architecture, and the control's kind where it is one. */
export const deviseRowName = (kind: string) => (kind === 'text' ? 'devise' : `devise (${kind} vectors)`);

export async function evalDeviseCommand(dir: string, a: DeviseEvalArgs): Promise<void> {
  if (a.captions) throw new CocaError(`--captions: ${dir} holds a devise model, which ranks labels and writes no captions; drop --captions`);
  const gpu = await Gpu.open();
  try {
    const ck = openDevise(gpu, dir);
    try {
      const available = listSplits(a.data);
      const wanted = a.split?.split(',').map((s) => s.trim()) ?? ['test-concept', 'test-style', 'test-fmnist', 'test', 'val'].filter((s) => available.includes(s)).slice(0, 3);
      console.error(`coca eval: ${dir} (devise, ${ck.config.label_vectors} label vectors) on ${a.data} (${wanted.join(', ')})`);
      const sections: EvalSection[] = [];
      const ctx = { model: ck.model, space: ck.space, tokenizer: ck.tokenizer, pre: ck.pre, batch: a.batch, maxItems: a['max-items'], strict: a.strict, margin: ck.config.margin };
      for (const split of wanted) sections.push(deviseSection(await deviseZeroShot(ctx, a.data, split), deviseRowName(ck.config.label_vectors)));
      const { text, json } = renderReport(sections);
      console.log(text);
      if (a.json) {
        fs.mkdirSync(path.dirname(a.json), { recursive: true });
        fs.writeFileSync(a.json, JSON.stringify({ checkpoint: dir, arch: 'devise', labelVectors: ck.config.label_vectors, data: a.data, ...json }, null, 2) + '\n');
        console.error(`wrote ${a.json}`);
      }
    } finally {
      ck.release();
    }
  } finally {
    gpu.destroy();
  }
}
