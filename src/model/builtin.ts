// The built-in model: a checkpoint shipped inside the package (models/builtin/, written by
// scripts/ship-model.ts), used wherever no --checkpoint is given and no run exists, so that a
// newcomer can caption and search right after set-up. It is an ordinary checkpoint folder (its
// weights in half precision, widened on load by checkpoint-params.ts) whose manifest lists every
// file of the folder, provenance included; ship.json says what it is in a form code can read.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Found from this file, not the working directory: `coca` runs from anywhere. */
const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export const BUILTIN_MODEL_DIR = path.join(PACKAGE_ROOT, 'models', 'builtin');
export const SHIP_INFO = 'ship.json';
export const EXPECTED_CAPTION = 'expected-caption.json';
export const SHIP_FORMAT = 'coca-builtin-1';

/** What ship.json records of a shipped model. */
export interface ShipInfo {
  format: typeof SHIP_FORMAT;
  /** The preset it was trained from (run.json's configName), e.g. tiny. */
  preset: string;
  /** The training step of the shipped weights, and the steps the run was set to. */
  step: number;
  runSteps: number;
  /** Shipped before the run finished. */
  interim: boolean;
  batch: number;
  data: string;
  params: number;
  /** Caption languages (its tokenizer's language tokens); empty for an English-only model. */
  languages: string[];
  /** sha256 of the float32 model.safetensors the weights were converted from. */
  sourceSha256: string;
  shippedAt: string;
}

export function isBuiltinModelDir(dir: string): boolean {
  return path.resolve(dir) === BUILTIN_MODEL_DIR;
}

/** Whether the package holds a built-in model. */
export function hasBuiltinModel(): boolean {
  return fs.existsSync(path.join(BUILTIN_MODEL_DIR, 'model.safetensors')) && fs.existsSync(path.join(BUILTIN_MODEL_DIR, 'config.json'));
}

/** ship.json of a shipped folder, or null when it has none or it cannot be read. */
export function readShipInfo(dir = BUILTIN_MODEL_DIR): ShipInfo | null {
  try {
    const info = JSON.parse(fs.readFileSync(path.join(dir, SHIP_INFO), 'utf8')) as ShipInfo;
    return info?.format === SHIP_FORMAT ? info : null;
  } catch {
    return null;
  }
}

/** The one line a command prints when it falls back on the built-in model. */
export function builtinNotice(): string {
  const info = readShipInfo();
  const what = info ? `${info.preset}, ${info.interim ? `step ${info.step} of a ${info.runSteps}-step run: an interim checkpoint` : `${info.step} steps`}` : 'no ship.json';
  const readme = path.join(BUILTIN_MODEL_DIR, 'README.md');
  const near = path.relative(process.cwd(), readme);
  return `coca: no --checkpoint and no run under runs/: using the built-in model (${what}; ${near.startsWith('..') ? readme : near})`;
}
