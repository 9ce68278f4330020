// The unpickler's dict and set building (src/interop/pickle.ts) where a pickle is malformed as
// Python's own unpickler sees it: a key without a value (SETITEMS or DICT over an odd number of
// items) and ADDITEMS onto something that is not a set. Python 3's pickle.loads raises on both
// (IndexError in load_setitems / load_dict; AttributeError: 'list' object has no attribute 'add');
// ours refused neither before (it dropped the key, ignored the items). Pickles spelled out by hand.
import { describe, expect, it } from 'vitest';
import { InteropError } from '../../../src/interop/errors.ts';
import { unpickle } from '../../../src/interop/pickle.ts';

const PROTO2 = [0x80, 2], MARK = [0x28], STOP = [0x2e], EMPTY_DICT = [0x7d], EMPTY_LIST = [0x5d], EMPTY_SET = [0x8f];
const SETITEM = [0x73], SETITEMS = [0x75], DICT = [0x64], ADDITEMS = [0x90];
const int1 = (n: number) => [0x4b, n];
const pk = (...parts: number[][]) => Buffer.from([...PROTO2, ...parts.flat(), ...STOP]);

/** The one-line reason a pickle is refused, without the file name and the common tail. */
function refusal(bytes: Buffer): string {
  try {
    unpickle(bytes, 'f.pkl');
  } catch (e) {
    expect(e).toBeInstanceOf(InteropError);
    const m = (e as Error).message;
    expect(m).toMatch(/^f\.pkl: .*; the file is damaged or not a PyTorch checkpoint$/);
    return m.slice('f.pkl: '.length, m.indexOf(';'));
  }
  return 'read';
}

describe('dict items', () => {
  it('SETITEMS over pairs, SETITEM and DICT build exactly the keys given', () => {
    // pickle.loads(b'\x80\x02}(K\x01K\x02K\x03K\x04u.') == {1: 2, 3: 4}
    const d = unpickle(pk(EMPTY_DICT, MARK, int1(1), int1(2), int1(3), int1(4), SETITEMS), 'f.pkl') as Map<unknown, unknown>;
    expect([...d.entries()]).toEqual([
      [1, 2],
      [3, 4],
    ]);
    expect([...(unpickle(pk(EMPTY_DICT, int1(5), int1(6), SETITEM), 'f.pkl') as Map<unknown, unknown>).entries()]).toEqual([[5, 6]]);
    expect([...(unpickle(pk(MARK, int1(7), int1(8), DICT), 'f.pkl') as Map<unknown, unknown>).entries()]).toEqual([[7, 8]]);
    expect([...(unpickle(pk(EMPTY_DICT, MARK, SETITEMS), 'f.pkl') as Map<unknown, unknown>).entries()]).toEqual([]);
  });

  it('a key without a value is refused, as Python refuses it, not dropped', () => {
    expect(refusal(pk(EMPTY_DICT, MARK, int1(1), int1(2), int1(3), SETITEMS))).toBe('a dict key without a value');
    expect(refusal(pk(EMPTY_DICT, MARK, int1(1), SETITEMS))).toBe('a dict key without a value');
    expect(refusal(pk(MARK, int1(1), int1(2), int1(3), DICT))).toBe('a dict key without a value');
  });
});

describe('set items', () => {
  it('ADDITEMS adds to a set', () => {
    // pickle.loads(b'\x80\x02\x8f(K\x01K\x02K\x01\x90.') == {1, 2}
    expect(unpickle(pk(EMPTY_SET, MARK, int1(1), int1(2), int1(1), ADDITEMS), 'f.pkl')).toEqual(new Set([1, 2]));
  });

  it('ADDITEMS onto a list or a dict is refused', () => {
    expect(refusal(pk(EMPTY_LIST, MARK, int1(1), ADDITEMS))).toBe('items added to something that is not a set');
    expect(refusal(pk(EMPTY_DICT, MARK, int1(1), ADDITEMS))).toBe('items added to something that is not a set');
  });
});
