// What the A/B scripts (scripts/ab-*.ts) print. Each timed dispatch is labelled `name#round` (the
// kernel may append to the label after the round, as `:bwd:dQ`); the rounds of one name and
// suffix are reported together as a median and quartiles of GPU milliseconds per dispatch.
import type { ProfileEntry } from '../src/gpu/profiler.ts';

/** The f-quantile of xs (0.5: the median), by rank, no interpolation. */
export const quantile = (xs: number[], f: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(f * xs.length))]!;

/** Prints one line per label without its `#round`; labels without a round (warm-ups) are left out. */
export function printMedians(profile: Map<string, ProfileEntry>, digits = 2): void {
  const times = new Map<string, number[]>();
  for (const [label, e] of profile) {
    const m = /^(.*)#\d+(.*)$/.exec(label);
    if (m) times.set(m[1]! + m[2]!, [...(times.get(m[1]! + m[2]!) ?? []), e.ms / e.count]);
  }
  for (const [key, xs] of [...times].sort()) {
    const at = (f: number) => quantile(xs, f).toFixed(digits);
    console.log(`${key.padEnd(48)} median ${at(0.5)} ms (quartiles ${at(0.25)}–${at(0.75)}, ${xs.length} runs)`);
  }
}
