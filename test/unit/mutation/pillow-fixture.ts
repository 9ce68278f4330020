// test/fixtures/resample_bicubic.json (scripts/reference/resample_bicubic.py): Pillow's bicubic
// resize of noise pictures, and the noise formula that made them.
import fs from 'node:fs';
import path from 'node:path';

export interface PillowCase {
  width: number;
  height: number;
  seed: number;
  outWidth: number;
  outHeight: number;
  /** base64 of the 8-bit RGB bytes Pillow gave. */
  output: string;
}

export const pillowCases = (JSON.parse(fs.readFileSync(path.join(import.meta.dirname, '../../fixtures/resample_bicubic.json'), 'utf8')) as { cases: PillowCase[] }).cases;

/** resample_bicubic.py's noise(): the same linear congruential bytes (BigInt: the products pass 2^53). */
export function noise(w: number, h: number, seed: number): Uint8Array {
  const out = new Uint8Array(w * h * 3);
  let s = BigInt(seed);
  for (let i = 0; i < out.length; i++) {
    s = (s * 1103515245n + 12345n) % 2n ** 31n;
    out[i] = Number((s >> 16n) % 256n);
  }
  return out;
}
