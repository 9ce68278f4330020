// `coca classify` with a devise checkpoint: each picture's labels ranked by t_j·v, the label's
// vector in the model's space against the picture's point in it. There are no probabilities (the
// hinge loss ranks, it does not calibrate) and no prompts (a label is placed by its own words); a
// label none of whose words the text model knows has no vector and is named, not ranked.
import { Gpu } from '../gpu/gpu.ts';
import { labelMatrix } from '../eval/devise.ts';
import { loadImageFiles } from '../infer/load.ts';
import { openDevise } from '../model/devise-config.ts';
import { CocaError } from '../util/errors.ts';

export interface DeviseClassifyArgs {
  labels: string[];
  templates: string;
  k: number;
  json: boolean;
}

export function checkDeviseClassify(dir: string, a: Pick<DeviseClassifyArgs, 'templates'>): void {
  if (a.templates !== 'default') throw new CocaError(`--templates: ${dir} holds a devise model, which places a label by its own words, without prompts; drop --templates`);
}

export async function classifyDeviseCommand(dir: string, files: readonly string[], a: DeviseClassifyArgs): Promise<void> {
  const gpu = await Gpu.open();
  try {
    const ck = openDevise(gpu, dir);
    try {
      const vectors = a.labels.map((l) => ck.space.vector(l));
      const known = a.labels.flatMap((l, j) => (vectors[j] ? [l] : []));
      const unknown = a.labels.filter((_, j) => !vectors[j]);
      if (known.length === 0) throw new CocaError(`none of the labels has a vector: the text model of ${dir} never saw any of their words; give labels in words its training captions use`);
      if (unknown.length > 0) console.error(`coca: not ranked, no vector (their words are not in the text model of ${dir}): ${unknown.join(', ')}`);
      const images = await loadImageFiles(files, ck.pre);
      const T = labelMatrix(gpu, vectors.filter((v): v is Float32Array => v !== null), ck.space.dim);
      let scores: Float32Array;
      try {
        scores = await ck.model.scores(images, files.length, T);
      } finally {
        T.release();
      }
      const L = known.length;
      const ranked = files.map((f, i) => ({ image: f, labels: known.map((label, c) => ({ label, score: scores[i * L + c]! })).sort((x, y) => y.score - x.score) }));
      if (a.json) console.log(JSON.stringify({ checkpoint: dir, arch: 'devise', labelVectors: ck.config.label_vectors, results: ranked, unranked: unknown }, null, 2));
      else {
        for (const r of ranked) {
          console.log(r.image);
          for (const { label, score } of r.labels.slice(0, a.k)) console.log(`  ${score.toFixed(3).padStart(7)}  ${label}`);
        }
      }
    } finally {
      ck.release();
    }
  } finally {
    gpu.destroy();
  }
}
