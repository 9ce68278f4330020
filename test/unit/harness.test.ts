// The test harness itself and the pieces of the GPU layer that need no adapter: the PRNG, the
// comparison (which must catch NaN), finite differences, size classes, shader specialisation.
import { describe, expect, it } from 'vitest';
import { matmulBackwardRef, matmulRef } from '../../kernels/matmul.ref.ts';
import { sizeClass } from '../../src/gpu/pool.ts';
import { specialise } from '../../src/gpu/shaders.ts';
import { compareClose } from '../../src/util/allclose.ts';
import { Rng } from '../../src/util/prng.ts';
import { numericGrad } from '../helpers/finite-diff.ts';
import { testRng } from '../helpers/seed.ts';

describe('Rng', () => {
  it('is deterministic per seed and differs across seeds', () => {
    const a = new Rng(42).floats(100);
    expect(new Rng(42).floats(100)).toEqual(a);
    expect(new Rng(43).floats(100)).not.toEqual(a);
  });
  it('draws uniform values in range with the right mean', () => {
    const r = new Rng(7);
    const xs = r.floats(20000, -1, 1);
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(-1);
    expect(Math.max(...xs)).toBeLessThan(1);
    expect(Math.abs(xs.reduce((s, x) => s + x, 0) / xs.length)).toBeLessThan(0.02);
    const ns = Array.from({ length: 20000 }, () => r.normal());
    const mean = ns.reduce((s, x) => s + x, 0) / ns.length;
    const varr = ns.reduce((s, x) => s + (x - mean) ** 2, 0) / ns.length;
    expect(Math.abs(mean)).toBeLessThan(0.03);
    expect(Math.abs(varr - 1)).toBeLessThan(0.05);
  });
});

describe('compareClose', () => {
  it('fails on NaN (an unwritten, poisoned element), on a wrong value, and passes within tolerance', () => {
    expect(compareClose([1, NaN, 3], [1, 2, 3], { atol: 1, rtol: 1 }).ok).toBe(false);
    const r = compareClose([1, 2.5, 3], [1, 2, 3], { atol: 0.1, rtol: 0.1 });
    expect(r.ok).toBe(false);
    expect(r.mismatches).toBe(1);
    expect(r.first[0]).toMatch(/\[1\]: got 2.5 want 2/);
    expect(compareClose([1, 2.05, 3], [1, 2, 3], { atol: 0, rtol: 0.05 }).ok).toBe(true);
    expect(compareClose([1], [1, 2], { atol: 1, rtol: 1 }).ok).toBe(false);
  });
});

describe('matmul reference', () => {
  it('its backward is the gradient of its forward (central differences, float64)', () => {
    const rng = testRng(1);
    for (const [transA, transB] of [[false, false], [false, true], [true, false], [true, true]] as const) {
      const [M, N, K] = [3, 4, 5];
      const a = Float64Array.from(rng.floats(M * K));
      const b = Float64Array.from(rng.floats(K * N));
      const dc = Float64Array.from(rng.floats(M * N));
      const d = { M, N, K, transA, transB };
      const { da, db } = matmulBackwardRef(a, b, dc, d);
      const fa = numericGrad((x) => matmulRef(x, b, { ...d, batch: 1 }), a, dc);
      const fb = numericGrad((x) => matmulRef(a, x, { ...d, batch: 1 }), b, dc);
      expect(compareClose(da, fa, { atol: 1e-8, rtol: 1e-7 }).ok).toBe(true);
      expect(compareClose(db, fb, { atol: 1e-8, rtol: 1e-7 }).ok).toBe(true);
    }
  });
  it('matches a hand-worked product', () => {
    // [[1,2],[3,4]]·[[5,6],[7,8]] = [[19,22],[43,50]]; with bias [1,-1] and alpha 2.
    const c = matmulRef([1, 2, 3, 4], [5, 6, 7, 8], { M: 2, N: 2, K: 2, batch: 1, transA: false, transB: false }, { alpha: 2, bias: [1, -1] });
    expect([...c]).toEqual([39, 43, 87, 99]);
  });
});

describe('size classes', () => {
  it('wastes at most 25 % and never rounds down', () => {
    for (const n of [1, 255, 256, 257, 1000, 4096, 5000, 1 << 20, (1 << 20) + 1, 3e8]) {
      const c = sizeClass(n);
      expect(c).toBeGreaterThanOrEqual(n);
      if (n > 256) expect(c / n).toBeLessThanOrEqual(1.25);
    }
  });
});

describe('shader specialisation', () => {
  const src = 'const TM: u32 = 4u;\nconst ALPHA: f32 = 1.0;\nconst FLAG: bool = false;\nfn f() {\n  //#unroll L TM\n  x[L] = L;\n  //#end\n}\n';
  it('replaces defined constants with typed literals', () => {
    const s = specialise('t', { TM: 2, ALPHA: 3, FLAG: true }, src);
    expect(s.code).toContain('const TM: u32 = 2u;');
    expect(s.code).toContain('const ALPHA: f32 = 3.0;');
    expect(s.code).toContain('const FLAG: bool = true;');
  });
  it('unrolls with constant indices and keeps a map to the source lines', () => {
    const s = specialise('t', { TM: 3 }, src);
    expect(s.code).toContain('x[0u] = 0u;\n  x[1u] = 1u;\n  x[2u] = 2u;');
    const line = s.code.split('\n').findIndex((l) => l.includes('x[2u]'));
    expect(s.lineMap[line]).toBe('shaders/t.wgsl:6');
  });
  it('includes a shared file, applies defines to its lines, and maps errors back to it', () => {
    const s = specialise('t', { TRANS_A: true }, 'enable subgroups;\n//#include matmul_common\nfn f() {}\n');
    expect(s.code.startsWith('enable subgroups;\n')).toBe(true);
    expect(s.code).toContain('const TRANS_A: bool = true;');
    expect(s.code).toContain('fn loadA(');
    const at = s.code.split('\n').findIndex((l) => l.startsWith('fn loadA('));
    expect(s.lineMap[at]).toMatch(/^shaders\/matmul_common\.wgsl:\d+$/);
    expect(s.lineMap.at(-2)).toBe('shaders/t.wgsl:3');
  });
  it('follows an include inside an included file, mapping its lines, and names an include cycle', () => {
    const s = specialise('t', {}, 'enable subgroups;\n//#include attention_common\nfn f() {}\n');
    const at = s.code.split('\n').findIndex((l) => l.startsWith('fn round_f16('));
    expect(at).toBeGreaterThan(0);
    expect(s.lineMap[at]).toMatch(/^shaders\/f16_round\.wgsl:\d+$/);
    expect(s.code).not.toMatch(/^\s*\/\/#include\s+\w+\s*$/m);
    expect(() => specialise('attention_common', {}, '//#include attention_common\n')).toThrow(/includes itself \(attention_common → attention_common\)/);
  });
  it('rejects an unknown define', () => {
    expect(() => specialise('t', { TN: 1 }, src)).toThrow(/define TN matches no module-scope const/);
  });
  it('keeps one branch of #if/#else by a bool const or define, unrolls inside a kept branch, and maps lines', () => {
    const twin = 'const VEC4: bool = true;\nconst N: u32 = 2u;\n//#if VEC4\nlet a = v4;\n//#unroll J N\nx[J] = 0;\n//#end\n//#else\nlet a = s;\n//#unroll J N\ny[J] = 0;\n//#end\n//#end\nlet tail = 1;\n';
    const v4 = specialise('t', {}, twin);
    expect(v4.code).toBe('const VEC4: bool = true;\nconst N: u32 = 2u;\nlet a = v4;\nx[0u] = 0;\nx[1u] = 0;\nlet tail = 1;\n');
    const s = specialise('t', { VEC4: false }, twin);
    expect(s.code).toBe('const VEC4: bool = false;\nconst N: u32 = 2u;\nlet a = s;\ny[0u] = 0;\ny[1u] = 0;\nlet tail = 1;\n');
    expect(s.lineMap[2]).toBe('shaders/t.wgsl:9');
    expect(s.lineMap[5]).toBe('shaders/t.wgsl:14');
  });
  it('rejects an #if on something that is no bool const, and an #if without #end', () => {
    expect(() => specialise('t', {}, 'const N: u32 = 2u;\n//#if N\n//#end\n')).toThrow(/t\.wgsl:2: #if N names no bool const/);
    expect(() => specialise('t', {}, 'const B: bool = true;\n//#if B\nfn f() {}\n')).toThrow(/t\.wgsl:2: #if without #end/);
    expect(() => specialise('t', {}, 'fn f() {}\n//#else\n')).toThrow(/#else without #if/);
  });
});
