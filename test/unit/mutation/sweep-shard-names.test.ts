// The widths of shard names and sample keys (src/data/shard-writer.ts, nameWidths), the eleventh and
// twelfth passes' "untested" 175/176 (`count − 1`, `ds.length − 1` → `+ 1`): they differ only from
// 99,999 shards or 999,999 samples on, which no test writes, so the rule is checked on its own at
// those edges. The rule (the module's header, WebDataset's `{00000..N}` names): as many digits as
// the last number needs — shards count from 00000, keys from 000000 — but never fewer than 5 and 6.
import { describe, expect, it } from 'vitest';
import { nameWidths } from '../../../src/data/shard-writer.ts';

describe('nameWidths', () => {
  it('5 and 6 digits up to the last number that fits them', () => {
    expect(nameWidths(1, 1)).toEqual({ width: 5, keyWidth: 6 });
    expect(nameWidths(99_999, 999_999)).toEqual({ width: 5, keyWidth: 6 }); // last: 99998, 999998
    expect(nameWidths(100_000, 1_000_000)).toEqual({ width: 5, keyWidth: 6 }); // last: 99999, 999999
  });

  it('one digit more once the last number needs it', () => {
    expect(nameWidths(100_001, 1_000_001)).toEqual({ width: 6, keyWidth: 7 }); // last: 100000, 1000000
    expect(nameWidths(1_000_001, 10_000_001)).toEqual({ width: 7, keyWidth: 8 });
  });
});
