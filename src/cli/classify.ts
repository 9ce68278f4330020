// `coca classify IMAGE... --labels "a,b"`: zero-shot classification by prompt ensembles.
import type { Argv } from 'yargs';
import { Gpu } from '../gpu/gpu.ts';
import { embedImages } from '../infer/embed.ts';
import { InferError, loadImageFiles, openCheckpoint, resolveCheckpointDir } from '../infer/load.ts';
import { checkpointArch } from '../model/arch.ts';
import { checkDeviseClassify, classifyDeviseCommand } from './classify-devise.ts';
import { classEmbeddings, classify, logitScale, parseLabels, parseTemplates } from '../infer/zeroshot.ts';

interface ClassifyArgs {
  images?: string[];
  labels?: string;
  'labels-file'?: string;
  templates: string;
  checkpoint?: string;
  k: number;
  json: boolean;
}

export const classifyCommand = {
  command: 'classify <images..>',
  describe: 'Zero-shot classification: which of the given labels fits each image (a coca checkpoint: probabilities over prompt ensembles; a devise one: scores t·v of the labels\' word vectors)',
  builder: (y: Argv) =>
    y
      .positional('images', { type: 'string', array: true, describe: 'image files' })
      .option('labels', { type: 'string', describe: 'comma-separated class names' })
      .option('labels-file', { type: 'string', describe: 'class names, one per line' })
      .option('templates', { type: 'string', default: 'default', describe: "prompt templates: 'default' (CLIP-style ensemble) or a file, one per line with {} for the label (coca checkpoints; a devise one takes none)" })
      .option('checkpoint', { type: 'string', describe: 'checkpoint or run folder [default: the newest under runs/, else the built-in model (models/builtin)]' })
      .option('k', { type: 'number', default: 5, describe: 'labels shown per image' })
      .option('json', { type: 'boolean', default: false, describe: 'print JSON with every probability' })
      .example('$0 classify shoe.png --labels "sneaker,boot,sandal,shirt"', 'top labels with probabilities'),
  handler: async (a: ClassifyArgs) => {
    const labels = parseLabels(a.labels, a['labels-file']);
    if (!Number.isInteger(a.k) || a.k < 1) throw new InferError(`-k must be a positive integer, got ${a.k}`);
    const files = a.images ?? [];
    const dir = resolveCheckpointDir(a.checkpoint);
    if (checkpointArch(dir) === 'devise') {
      checkDeviseClassify(dir, a);
      return classifyDeviseCommand(dir, files, { labels, templates: a.templates, k: a.k, json: a.json });
    }
    const templates = parseTemplates(a.templates);
    const gpu = await Gpu.open();
    const ck = openCheckpoint(gpu, a.checkpoint);
    try {
      const E = ck.model.config.embed_dim;
      const images = await embedImages(ck.model, await loadImageFiles(files, ck.pre), files.length);
      const probs = classify(images, await classEmbeddings(ck.model, ck.tokenizer, labels, templates), E, await logitScale(ck.model));
      const C = labels.length;
      const ranked = files.map((f, i) => ({
        image: f,
        labels: labels.map((l, c) => ({ label: l, p: probs[i * C + c]! })).sort((x, y) => y.p - x.p),
      }));
      if (a.json) console.log(JSON.stringify({ checkpoint: ck.dir, templates, results: ranked }, null, 2));
      else {
        for (const r of ranked) {
          console.log(r.image);
          for (const { label, p } of r.labels.slice(0, a.k)) console.log(`  ${(100 * p).toFixed(1).padStart(5)}%  ${label}`);
        }
      }
    } finally {
      ck.release();
      gpu.destroy();
    }
  },
};
