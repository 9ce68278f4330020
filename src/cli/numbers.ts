// Numeric options, checked before any work starts: yargs turns `--lr abc` into NaN and takes
// `--clip 0` or `--max-items 0` as given, which would otherwise fail deep inside a kernel or a
// metric with a message about its internals. One line per mistake, naming the option.
import { CocaError } from '../util/errors.ts';

/** A command-line value that is out of range. */
export class OptionError extends CocaError {
  override name = 'OptionError';
}

/** --name must be a whole number from `min` (to `max`); undefined passes (the option was left out). */
export function checkInt(name: string, v: number | undefined, min: number, max = Number.MAX_SAFE_INTEGER): void {
  if (v === undefined) return;
  if (!Number.isInteger(v) || v < min || v > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `from ${min} to ${max}`;
    throw new OptionError(`--${name} must be a whole number ${range}, got ${v}`);
  }
}

export interface Range {
  /** Exclusive lower bound. */
  above?: number;
  /** Inclusive bounds. */
  min?: number;
  max?: number;
  /** What the value means, said after the range (e.g. "the largest gradient norm kept"). */
  about?: string;
}

/** --name must be a finite number in the range; undefined passes. */
export function checkNumber(name: string, v: number | undefined, r: Range): void {
  if (v === undefined) return;
  const ok = Number.isFinite(v) && (r.above === undefined || v > r.above) && (r.min === undefined || v >= r.min) && (r.max === undefined || v <= r.max);
  if (ok) return;
  const low = r.above !== undefined ? `> ${r.above}` : r.min !== undefined ? `≥ ${r.min}` : '';
  const range = [low, r.max !== undefined ? `≤ ${r.max}` : ''].filter(Boolean).join(' and ');
  throw new OptionError(`--${name} must be a number ${range}${r.about ? ` (${r.about})` : ''}, got ${v}`);
}
