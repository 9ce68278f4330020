// `coca train --arch`: which architecture a run trains, and the run of one that is not CoCa
// (src/train/captioner-trainer.ts). CoCa's own path (src/cli/train.ts) is unchanged.
import fs from 'node:fs';
import path from 'node:path';
import { Gpu } from '../gpu/gpu.ts';
import { archOfConfig, checkArch, type Arch } from '../model/arch.ts';
import { loadLstmConfig, LSTM_ARCHS, LSTM_PRESETS, type LstmArch } from '../model/captioners/config.ts';
import { trainCaptioner, type CaptionerTrainOptions } from '../train/captioner-trainer.ts';
import type { Triple, ResizeMode } from '../data/index.ts';
import { CocaError } from '../util/errors.ts';
import { archRunOptions, checkNewRunFolder, checkRunNumbers, NOT_FOR_ANY_ARCH, refuseOptions, type ArchDefaults } from './arch-run-options.ts';
import { lstmResumeOptions } from './train-lstm-resume.ts';

export interface ArchArgs {
  arch?: string;
  preset?: string;
  config?: string;
  resume?: string;
}

function readJson(file: string): unknown {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return null;
  }
}

/**
 * The run's architecture: --arch, else the one a --config file or a resumed run names, else coca.
 * --arch and a config of another architecture disagree in one line.
 */
export function runArch(a: ArchArgs): Arch {
  const given = a.arch !== undefined ? checkArch(a.arch) : undefined;
  if (a.resume) {
    const run = fs.existsSync(path.join(a.resume, 'run.json')) ? a.resume : path.join(a.resume, '..', '..');
    const recorded = (readJson(path.join(run, 'run.json')) as { arch?: string } | null)?.arch;
    const arch = recorded === undefined ? 'coca' : checkArch(recorded, `${run}/run.json: arch`);
    if (arch !== 'coca' && !(LSTM_ARCHS as readonly string[]).includes(arch)) throw new CocaError(`--resume ${a.resume}: the run trains --arch ${arch}, which cannot be resumed yet; start a new run (its checkpoints/last is complete)`);
    if (given && given !== arch) throw new CocaError(`--arch ${given} and --resume ${a.resume} disagree: that run trains --arch ${arch}; drop --arch`);
    return arch;
  }
  const fromConfig = a.config && fs.existsSync(a.config) ? archOfConfig(readJson(a.config), a.config) : undefined;
  if (given && fromConfig && given !== fromConfig) throw new CocaError(`--arch ${given} and --config ${a.config} disagree: the config is a ${fromConfig} model; drop --arch or give a ${given} config`);
  return given ?? fromConfig ?? 'coca';
}

/** The options of `coca train` that an LSTM captioner's run has no use for, as typed. */
const NOT_FOR_LSTM: Record<string, string> = {
  'caption-weight': 'its only loss is the caption loss',
  'contrastive-weight': 'it has no contrastive loss',
  init: 'it starts from its own initialisation',
  'lock-image': 'its image tower always trains',
  ...NOT_FOR_ANY_ARCH,
};

export interface LstmTrainArgs {
  preset?: string;
  config?: string;
  data?: string;
  out?: string;
  steps?: number;
  batch?: number;
  lr?: number;
  warmup?: number;
  'weight-decay'?: number;
  clip?: number;
  seed?: number;
  'val-every'?: number;
  keep?: number;
  'on-nan'?: string;
  'image-mean'?: number[];
  'image-std'?: number[];
  'image-resize-mode'?: ResizeMode;
  strict: boolean;
  [key: string]: unknown;
}

/** `coca train --arch showtell|sat`: the options checked, the run trained, a summary printed. */
export async function trainLstmCommand(arch: LstmArch, a: LstmTrainArgs, defaults: ArchDefaults): Promise<void> {
  refuseOptions(arch, a, NOT_FOR_LSTM);
  if (a.preset && a.config) throw new CocaError('give --preset or --config, not both');
  const overrides = (a['override'] as string[] | undefined) ?? [];
  if (overrides.length && !a['resume']) throw new CocaError('--override only applies with --resume (a new run takes its options as given)');
  const resume = a['resume'] as string | undefined;
  if (resume) {
    const { run, options } = lstmResumeOptions(resume, a, overrides);
    const o = { ...options, out: run, resume, strict: a.strict, progress: true };
    checkRunNumbers(o, 2); // batch norm's training statistics need two rows
    return runLstm(o);
  }
  if (a.preset && !(LSTM_PRESETS as readonly string[]).includes(a.preset)) throw new CocaError(`--preset ${a.preset}: --arch ${arch} has the presets ${LSTM_PRESETS.join(', ')}; give one of them or --config FILE`);
  const configName = a.config ?? a.preset ?? 'nano';
  const config = loadLstmConfig(arch, configName);
  const o = {
    config,
    configName,
    ...archRunOptions(a, defaults, `${arch}-${path.basename(configName, '.json')}`, 2),
    preprocess: { mean: a['image-mean'] as Triple | undefined, std: a['image-std'] as Triple | undefined, resizeMode: a['image-resize-mode'] },
  };
  checkNewRunFolder(o, true);
  return runLstm(o);
}

async function runLstm(o: CaptionerTrainOptions): Promise<void> {
  const gpu = await Gpu.open();
  try {
    const r = await trainCaptioner(gpu, o);
    const v = r.validation;
    console.log(
      `done: ${r.steps} steps in ${r.seconds.toFixed(1)} s; last loss ${r.last?.total.toFixed(4) ?? '–'}` +
        (v ? `; validation caption loss ${v.caption.toFixed(4)} (${v.items} pairs)` : '') +
        `\n  checkpoint: ${path.join(r.out, 'checkpoints', 'last')}`,
    );
  } finally {
    gpu.destroy();
  }
}
