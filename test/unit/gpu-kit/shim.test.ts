// The vitest stand-in the GPU run kit runs its suites with (scripts/gpu/vitest-shim.ts): each
// matcher must pass what vitest passes and, above all, fail what vitest fails, or the kit's
// suites would pass on a GPU whatever the kernels compute.
import { describe, expect, it } from 'vitest';
import { deepEqual, expect as kitExpect, formatTitle } from '../../../scripts/gpu/vitest-shim.ts';

const fails = (f: () => void, message?: RegExp) => expect(f).toThrow(message ?? /expected/);

describe('kit vitest shim: expect', () => {
  it('toBe is Object.is', () => {
    kitExpect(3).toBe(3);
    fails(() => kitExpect(3).toBe(4), /expected 3 to be 4/);
    fails(() => kitExpect(0).toBe(-0));
    fails(() => kitExpect({}).toBe({}));
    kitExpect(NaN).toBe(NaN);
  });

  it('toEqual compares deeply, element by element, and tells -0 from 0 as vitest does', () => {
    kitExpect([1, [2, { a: 3 }]]).toEqual([1, [2, { a: 3 }]]);
    kitExpect({ a: 1, b: undefined }).toEqual({ a: 1 });
    kitExpect(new Float32Array([1, 2])).toEqual(new Float32Array([1, 2]));
    fails(() => kitExpect([1, 2]).toEqual([1, 2, 3]));
    fails(() => kitExpect([0]).toEqual([-0]));
    fails(() => kitExpect({ a: 1 }).toEqual({ a: 1, b: 2 }));
    fails(() => kitExpect(new Float32Array([1, 2])).toEqual([1, 2]));
    fails(() => kitExpect([NaN, 1]).toEqual([NaN, 2]));
    expect(deepEqual(new Map([[1, 2]]), new Map([[1, 3]]))).toBe(false);
  });

  it('orderings, null, containment and patterns', () => {
    kitExpect(2).toBeGreaterThan(1);
    fails(() => kitExpect(1).toBeGreaterThan(1));
    kitExpect(1).toBeGreaterThanOrEqual(1);
    fails(() => kitExpect(0.5).toBeGreaterThanOrEqual(1));
    kitExpect(1).toBeLessThan(2);
    fails(() => kitExpect(2).toBeLessThan(2));
    kitExpect(2).toBeLessThanOrEqual(2);
    fails(() => kitExpect(3).toBeLessThanOrEqual(2));
    fails(() => kitExpect(NaN).toBeLessThan(1));
    kitExpect(['vulkan', 'opengl']).toContain('vulkan');
    fails(() => kitExpect(['vulkan']).toContain('metal'));
    kitExpect('shaders/x.wgsl:5').toMatch(/x\.wgsl:\d/);
    fails(() => kitExpect('abc').toMatch(/d/));
    kitExpect({}).not.toBeNull();
    fails(() => kitExpect(null).not.toBeNull(), /expected null not to be null/);
  });

  it('toThrow matches a message part, a pattern or a class, and fails when nothing is thrown', () => {
    const boom = () => {
      throw new RangeError('matmul: inner dimensions 3 and 4 differ');
    };
    kitExpect(boom).toThrow();
    kitExpect(boom).toThrow('inner dimensions');
    kitExpect(boom).toThrow(/3 and 4/);
    kitExpect(boom).toThrow(RangeError);
    fails(() => kitExpect(boom).toThrow(TypeError));
    fails(() => kitExpect(boom).toThrow('outer'));
    fails(() => kitExpect(() => 1).toThrow(), /threw nothing/);
    kitExpect(() => 1).not.toThrow();
    fails(() => kitExpect(boom).not.toThrow());
  });

  it('rejects.toThrow awaits the promise and fails when it resolves or rejects otherwise', async () => {
    await kitExpect(Promise.reject(new Error('shaders/broken.wgsl:6: bad'))).rejects.toThrow(/broken\.wgsl:6/);
    await expect(kitExpect(Promise.resolve(1)).rejects.toThrow()).rejects.toThrow(/resolved/);
    await expect(kitExpect(Promise.reject(new Error('other'))).rejects.toThrow(/broken/)).rejects.toThrow(/rejected with "other"/);
  });

  it('expect.fail throws its message; a message given to expect() leads the failure', () => {
    expect(() => kitExpect.fail('3 tensors differ')).toThrow('3 tensors differ');
    fails(() => kitExpect([1], 'the gap is untouched').toEqual([2]), /^the gap is untouched: expected/);
  });

  it("formats each-titles as vitest does (%s, %d, %j, %%)", () => {
    expect(formatTitle('matmul %s', ['tiled'])).toBe('matmul tiled');
    expect(formatTitle('%s x %d = %j %%', ['a', 3, { b: 1 }])).toBe('a x 3 = {"b":1} %');
  });
});
