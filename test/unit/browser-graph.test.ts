// The browser rule of scripts/check-layers.ts: on this repository (the bundle's graph holds no
// Node module), and on a made-up tree where Node modules leak into it in each way they can.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { checkBrowserGraph, tsImports } from '../../scripts/check-layers.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

describe('the browser bundle imports nothing Node-only', () => {
  it('on this repository, from src/web/coca.ts through #gpu-host', () => {
    expect(checkBrowserGraph(ROOT)).toEqual([]);
    // The device layer's #gpu-host import counts for the layer rules with both of its hosts.
    const targets = tsImports(ROOT, 'src/gpu/gpu.ts').filter((i) => i.spec === '#gpu-host').map((i) => i.target).sort();
    expect(targets).toEqual(['src/gpu/host-browser.ts', 'src/gpu/host-node.ts']);
  });

  describe('on a tree that leaks', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-browser-graph-'));
    afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
    const files: Record<string, string> = {
      'package.json': JSON.stringify({ imports: { '#host': { browser: './src/gpu/hb.ts', default: './src/gpu/hn.ts' }, '#nodeonly': { node: './src/gpu/hn.ts' } } }),
      'src/web/app.ts': "import { a } from '../gpu/a.ts';\nimport type { T } from '../gpu/typed.ts';\nimport { type U } from '../gpu/typed.ts';\nexport { a };\n",
      'src/gpu/a.ts': "import { h } from '#host';\nimport { b } from './b.ts';\nexport const a = h + b;\n",
      'src/gpu/hb.ts': "// process.env.X in a comment, and the process. too\nexport const h = 1; /* Buffer.from */\nconst url = 'http://x'; // require('y')\nexport const k = globalThis.navigator ?? process.env.COCA_X;\n",
      'src/gpu/hn.ts': "import fs from 'node:fs';\nexport const h = 2;\n",
      'src/gpu/b.ts': "import {\n  create,\n} from 'webgpu';\nexport const b = await import('./c.ts');\n",
      'src/gpu/c.ts': "import '#nodeonly';\nimport sharp from 'sharp';\n",
      'src/gpu/typed.ts': "import fs from 'node:fs';\nexport type T = 1;\nexport type U = 2;\n",
    };
    for (const [f, text] of Object.entries(files)) {
      fs.mkdirSync(path.join(dir, path.dirname(f)), { recursive: true });
      fs.writeFileSync(path.join(dir, f), text);
    }
    const v = checkBrowserGraph(dir);

    it('names a package and a built-in reached through imports, dynamic ones included, with the chain', () => {
      expect(v).toContain(
        "src/gpu/b.ts:1 imports 'webgpu', which the browser bundle cannot hold (reached by src/web/app.ts → src/gpu/a.ts → src/gpu/b.ts); split the Node part behind a host module or keep it out of the browser's imports",
      );
      expect(v.filter((s) => s.startsWith("src/gpu/c.ts:2 imports 'sharp'") && s.includes('src/gpu/b.ts → src/gpu/c.ts'))).toHaveLength(1);
    });
    it('names a # import with no browser target, and follows the browser target of one that has it', () => {
      expect(v.filter((s) => s.startsWith("src/gpu/c.ts:1 imports '#nodeonly' (no \"browser\" or \"default\" target"))).toHaveLength(1);
      expect(v.filter((s) => s.startsWith('src/gpu/hn.ts'))).toEqual([]);
    });
    it("names Node's globals used in code, not in comments", () => {
      expect(v.filter((s) => s.startsWith('src/gpu/hb.ts'))).toEqual([
        "src/gpu/hb.ts:4 uses Node's process, which a browser does not have (reached by src/web/app.ts → src/gpu/a.ts → src/gpu/hb.ts); ask the host (src/gpu/host.ts) or pass it in",
      ]);
    });
    it('skips type-only imports, which the bundle erases, and finds nothing else', () => {
      expect(v.filter((s) => s.startsWith('src/gpu/typed.ts'))).toEqual([]);
      expect(v).toHaveLength(4);
    });
  });
});
