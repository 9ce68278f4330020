// `coca train --arch devise`: the options checked in one line each before any GPU work, the run
// trained (src/train/devise-trainer.ts), a summary printed.
import path from 'node:path';
import type { Triple } from '../data/index.ts';
import { Gpu } from '../gpu/gpu.ts';
import { DEVISE_PRESETS, loadDeviseConfig } from '../model/devise-config.ts';
import { LABEL_VECTORS, LABEL_VECTORS_ABOUT, type LabelVectors } from '../model/devise-space.ts';
import { trainDevise } from '../train/devise-trainer.ts';
import { CocaError } from '../util/errors.ts';
import { archRunOptions, checkNewRunFolder, NOT_FOR_ANY_ARCH, refuseOptions, type ArchDefaults } from './arch-run-options.ts';
import type { LstmTrainArgs } from './train-arch.ts';

export const DEFAULT_LABEL_VECTORS: LabelVectors = 'text';

/** `--label-vectors` as given: one of LABEL_VECTORS, or one line naming them. */
export function checkLabelVectors(v: unknown): LabelVectors {
  if (v === undefined) return DEFAULT_LABEL_VECTORS;
  if (typeof v === 'string' && (LABEL_VECTORS as readonly string[]).includes(v)) return v as LabelVectors;
  throw new CocaError(`--label-vectors ${String(v)}: no such kind; give ${LABEL_VECTORS.map((k) => `${k} (${LABEL_VECTORS_ABOUT[k]})`).join(' or ')}`);
}

/** The options of `coca train` a DeViSE run has no use for, and why. */
const NOT_FOR_DEVISE: Record<string, string> = {
  'caption-weight': 'its only loss is the hinge rank loss',
  'contrastive-weight': 'its only loss is the hinge rank loss',
  init: 'it starts from its own initialisation',
  'lock-image': 'its image tower is what it trains',
  override: 'it cannot be resumed',
  ...NOT_FOR_ANY_ARCH,
};

export async function trainDeviseCommand(a: LstmTrainArgs, defaults: ArchDefaults): Promise<void> {
  refuseOptions('devise', a, NOT_FOR_DEVISE);
  const labelVectors = checkLabelVectors(a['label-vectors']);
  if (a.preset) throw new CocaError(`--preset ${a.preset}: --arch devise has the CNN preset ${DEVISE_PRESETS.join(', ')}; give --config ${DEVISE_PRESETS[0]} (the default) or --config FILE`);
  const configName = a.config ?? DEVISE_PRESETS[0];
  const config = loadDeviseConfig(configName);
  const o = {
    config,
    configName,
    labelVectors,
    ...archRunOptions(a, defaults, `devise-${labelVectors}-${path.basename(configName, '.json')}`, 2), // batch norm's training statistics need two rows
    preprocess: { mean: a['image-mean'] as Triple | undefined, std: a['image-std'] as Triple | undefined, resizeMode: a['image-resize-mode'] },
  };
  checkNewRunFolder(o);
  const gpu = await Gpu.open();
  try {
    const r = await trainDevise(gpu, o);
    const v = r.validation;
    const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
    console.log(
      `done: ${r.steps} steps in ${r.seconds.toFixed(1)} s; last hinge loss ${r.last?.hinge.toFixed(4) ?? '–'} (first ${r.first?.hinge.toFixed(4) ?? '–'}, over ${r.labels} labels)` +
        (v ? `; validation hinge ${v.hinge.toFixed(4)}, flat hit@1 ${pct(v.hit1)}, hit@5 ${pct(v.hit5)} (${v.items} pictures, its own captions as labels)` : '') +
        `\n  checkpoint: ${path.join(r.out, 'checkpoints', 'last')} (coca eval for its zero-shot table, coca classify to rank labels)`,
    );
  } finally {
    gpu.destroy();
  }
}
