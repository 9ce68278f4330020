// Reference of greedy decoding's device pick (shaders/argmax.wgsl): src/infer/search.ts's CPU
// rule written out on its own — mask, then scan from id 0 keeping a strictly larger value.
import type { PickMasks } from './argmax.ts';

export function argmaxRowsRef(logits: ArrayLike<number>, N: number, V: number, masks: Omit<PickMasks, 'banned'> & { banned: readonly number[] }, prev: ArrayLike<number> | null): Int32Array {
  const out = new Int32Array(N);
  const banned = new Set(masks.banned);
  for (let n = 0; n < N; n++) {
    if (prev && prev[n] === masks.eot) {
      out[n] = masks.eot;
      continue;
    }
    const x = (v: number) => {
      if (v === masks.pad || (!masks.sotAllowed && v === masks.sot) || banned.has(v) || (masks.maskEot && v === masks.eot)) return -Infinity;
      return logits[n * V + v]!;
    };
    let pick = 0;
    for (let v = 1; v < V; v++) if (x(v) > x(pick)) pick = v;
    out[n] = pick;
  }
  return out;
}
