// Every test draws its inputs from a seed that is printed when the test fails, and can be fixed
// with COCA_SEED to reproduce a failure.
import { onTestFailed } from 'vitest';
import { Rng } from '../../src/util/prng.ts';

const base = process.env.COCA_SEED ? Number(process.env.COCA_SEED) : (Date.now() ^ (process.pid << 8)) >>> 0;

/** A fresh Rng for this test; on failure the test's seed is printed for COCA_SEED=... */
export function testRng(salt = 0): Rng {
  const seed = (base + salt) >>> 0;
  onTestFailed(() => {
    console.error(`reproduce with COCA_SEED=${(seed - salt) >>> 0}`);
  });
  return new Rng(seed);
}
