// The layer order of scripts/check-layers.ts, on this repository and on a small made-up tree that
// breaks each rule once (so the check is seen to fail, not only to pass).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { checkLayers } from '../../scripts/check-layers.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

describe('layer order', () => {
  it('every import under src/, kernels/ and shaders/ points downward', () => {
    const r = checkLayers(ROOT);
    expect(r.violations).toEqual([]);
    expect(r.files).toBeGreaterThan(100);
    expect(r.imports).toBeGreaterThan(300);
  });

  describe('on a tree that breaks every rule', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-layers-'));
    afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
    const files: Record<string, string> = {
      'src/model/config.ts': 'export const x = 1;\n',
      'src/nn/params.ts': "// a comment\nimport type { x } from '../model/config.ts';\n",
      'src/model/loss.ts': "import { k } from '../../kernels/crossentropy.ts';\n",
      'src/train/adamw.ts': "import { adamw } from '../../kernels/adamw.ts';\n",
      'src/train/validate.ts': "import { r } from '../eval/recall.ts';\n",
      'src/eval/compare.ts': "export { readJsonl } from '../train/jsonl.ts';\n",
      'src/train/jsonl.ts': 'export const readJsonl = 1;\n',
      'src/eval/recall.ts': 'export const r = 1;\n',
      'src/util/prng.ts': "const g = await import('../gpu/gpu.ts');\n",
      'src/gpu/gpu.ts': "import { k } from '../../kernels/adamw.ts';\n",
      'src/tensor/ids.ts': "import { k } from '../../kernels/crossentropy.ts';\nimport { t } from '../../test/helpers/seed.ts';\n",
      'kernels/adamw.ts': 'export const adamw = 1;\n',
      'kernels/crossentropy.ts': 'export const k = 1;\n',
      'kernels/matmul.bench.ts': "import { fmt } from '../src/bench/family.ts';\n",
      'src/bench/family.ts': 'export const fmt = 1;\n',
      'src/index.ts': "export { x } from './model/config.ts';\n",
      'shaders/a.wgsl': '//#include b\n',
      'shaders/b.wgsl': '//#include a\n//#include missing\n',
    };
    for (const [f, text] of Object.entries(files)) {
      fs.mkdirSync(path.join(dir, path.dirname(f)), { recursive: true });
      fs.writeFileSync(path.join(dir, f), text);
    }
    const v = checkLayers(dir, []).violations;
    const hit = (re: RegExp) => v.filter((s) => re.test(s));

    it('names an upward import, type-only ones included', () => {
      expect(hit(/^src\/nn\/params\.ts:2 imports '\.\.\/model\/config\.ts': nn may not import model/)).toHaveLength(1);
      expect(hit(/^kernels\/matmul\.bench\.ts:1 imports '\.\.\/src\/bench\/family\.ts': kernels may not import bench/)).toHaveLength(1);
      expect(hit(/^src\/gpu\/gpu\.ts:1 .*gpu may not import kernels/)).toHaveLength(1);
    });
    it('names a skip past src/tensor into kernels/, but not the stated exception', () => {
      expect(hit(/^src\/model\/loss\.ts:1 imports '\.\.\/\.\.\/kernels\/crossentropy\.ts': only src\/tensor calls kernels/)).toHaveLength(1);
      expect(hit(/^src\/train\/adamw\.ts/)).toEqual([]);
      expect(hit(/^src\/tensor\/ids\.ts:1/)).toEqual([]);
    });
    it('names a leaf that imports upward, dynamic imports included, imports out of the tree and files outside any layer', () => {
      expect(hit(/^src\/util\/prng\.ts:1 imports '\.\.\/gpu\/gpu\.ts': util is a leaf/)).toHaveLength(1);
      expect(hit(/^src\/tensor\/ids\.ts:2 .*leads out of src\//)).toHaveLength(1);
      expect(hit(/^src\/index\.ts: a file directly under src\/ has no layer/)).toHaveLength(1);
    });
    it('names both imports of a cycle between two folders of one rank', () => {
      const c = hit(/cycle: eval, train/);
      expect(c).toHaveLength(1);
      expect(c[0]).toContain("src/eval/compare.ts:1 imports '../train/jsonl.ts'");
      expect(c[0]).toContain("src/train/validate.ts:1 imports '../eval/recall.ts'");
    });
    it('names a shader include cycle and a missing include', () => {
      expect(hit(/^shader include cycle: shaders\/a\.wgsl:1 imports 'b' → shaders\/b\.wgsl:1 imports 'a'/)).toHaveLength(1);
      expect(hit(/^shaders\/b\.wgsl:2 imports 'missing': there is no shaders\/missing\.wgsl/)).toHaveLength(1);
    });
    it('finds nothing else', () => {
      expect(v).toHaveLength(10);
    });
  });
});
