// The GPU run kit's assembly (scripts/gpu/assemble.ts): TypeScript compiled file by file so that
// modules still find what lies beside them, the runtime packages found as Node resolves them,
// other platforms' binaries left out, and the vitest stand-in failing a failing suite under
// `node --test`. Runs with the Node here; no adapter.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compileTree, droppedFromPackage, kitPackageJson, runtimePackages, writeVitestShim } from '../../../scripts/gpu/assemble.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-kit-test-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function write(file: string, text: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
}

describe('kit assembly', () => {
  it("keeps the repository's subpath imports, pointed at compiled files that the kit holds", async () => {
    const repoPj = JSON.parse(fs.readFileSync(path.join(import.meta.dirname, '../../../package.json'), 'utf8'));
    const kit = kitPackageJson(repoPj) as { type: string; imports: Record<string, Record<string, string>> };
    expect(kit.type).toBe('module');
    // The device layer's host: without this entry every module reaching src/gpu fails to load.
    expect(kit.imports['#gpu-host']).toEqual({ browser: './src/gpu/host-browser.js', default: './src/gpu/host-node.js' });
    for (const [name, targets] of Object.entries(kit.imports)) {
      for (const t of Object.values(targets)) expect(fs.existsSync(path.join(import.meta.dirname, '../../..', t.replace(/\.js$/, '.ts'))), `${name} → ${t}`).toBe(true);
    }
    // And Node resolves it: a compiled module importing '#gpu-host' beside such a package.json.
    const app = path.join(tmp, 'imports');
    write(path.join(app, 'package.json'), JSON.stringify(kitPackageJson({ version: '0.0.0', imports: { '#host': { browser: './b.ts', default: './n.ts' } } })));
    write(path.join(app, 'n.js'), "export const where = 'node';\n");
    write(path.join(app, 'main.js'), "import { where } from '#host';\nconsole.log(where);\n");
    const r = spawnSync(process.execPath, [path.join(app, 'main.js')], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('node');
  });

  it('compiles each .ts to a .js in the same place, imports rewritten, types erased, paths beside a module intact', async () => {
    const repo = path.join(tmp, 'compile');
    write(path.join(repo, 'src/a/main.ts'), [
      "import { join, dirname } from 'node:path';",
      "import { fileURLToPath } from 'node:url';",
      "import { readFileSync } from 'node:fs';",
      "import { twice, type Pair } from '../b/util.ts';",
      "const p: Pair = [2, 3];",
      "const here = dirname(fileURLToPath(import.meta.url));",
      "class Box { constructor(readonly v: number) {} }",
      "console.log(twice(p[1]), new Box(7).v, readFileSync(join(here, 'data.txt'), 'utf8').trim());",
    ].join('\n'));
    write(path.join(repo, 'src/a/data.txt'), 'beside\n');
    write(path.join(repo, 'src/b/util.ts'), 'export type Pair = [number, number];\nexport const twice = (x: number): number => 2 * x;\n');
    const out = path.join(tmp, 'compiled');
    const files = await compileTree(repo, ['src'], out);
    expect(files.sort()).toEqual(['src/a/main.js', 'src/b/util.js']);
    const main = fs.readFileSync(path.join(out, 'src/a/main.js'), 'utf8');
    expect(main).toContain('"../b/util.js"');
    expect(main).not.toContain('util.ts');
    // A compiled module runs without tsx, its neighbour file found where it was.
    fs.copyFileSync(path.join(repo, 'src/a/data.txt'), path.join(out, 'src/a/data.txt'));
    write(path.join(out, 'package.json'), '{"type":"module"}');
    const r = spawnSync(process.execPath, [path.join(out, 'src/a/main.js')], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('6 7 beside');
  });

  it('finds runtime packages transitively, as Node resolves them (nested versions kept apart, excluded ones left out)', () => {
    const repo = path.join(tmp, 'packages');
    const pkg = (dir: string, name: string, deps: Record<string, string> = {}, optional: Record<string, string> = {}) =>
      write(path.join(repo, dir, 'package.json'), JSON.stringify({ name, version: '1.0.0', dependencies: deps, optionalDependencies: optional }));
    pkg('node_modules/app-a', 'app-a', { shared: '1', tsx: '4' });
    pkg('node_modules/shared', 'shared', { leaf: '2' });
    pkg('node_modules/leaf', 'leaf');
    pkg('node_modules/app-b', 'app-b', { leaf: '1' }, { 'not-installed': '1', native: '1' });
    pkg('node_modules/app-b/node_modules/leaf', 'leaf');
    pkg('node_modules/native', 'native');
    pkg('node_modules/tsx', 'tsx', { esbuild: '0' });
    pkg('node_modules/unrelated', 'unrelated');
    expect(runtimePackages(repo, ['app-a', 'app-b'])).toEqual(
      ['node_modules/app-a', 'node_modules/app-b', 'node_modules/app-b/node_modules/leaf', 'node_modules/leaf', 'node_modules/native', 'node_modules/shared'].map((p) => p.split('/').join(path.sep)),
    );
    expect(() => runtimePackages(repo, ['missing'])).toThrow(/package missing is not installed here; run npm ci/);
  });

  it("leaves other platforms' dawn.node, docs, types and tests out of a package, and keeps what runs", () => {
    const j = (...p: string[]) => p.join(path.sep);
    expect(droppedFromPackage(j('dist', 'darwin-universal', 'dawn.node'))).toBe(true);
    expect(droppedFromPackage(j('dist', 'win32-x64', 'dawn.node'))).toBe(true);
    expect(droppedFromPackage(j('dist', 'linux-arm64', 'dawn.node'))).toBe(true);
    expect(droppedFromPackage(j('dist', 'linux-x64', 'dawn.node'))).toBe(false);
    expect(droppedFromPackage('index.js')).toBe(false);
    expect(droppedFromPackage(j('lib', 'index.js'))).toBe(false);
    expect(droppedFromPackage('LICENSE.md')).toBe(false);
    expect(droppedFromPackage('README.md')).toBe(true);
    expect(droppedFromPackage('types.d.ts')).toBe(true);
    expect(droppedFromPackage(j('lib', 'x.js.map'))).toBe(true);
    expect(droppedFromPackage(j('test', 'a.js'))).toBe(true);
    expect(droppedFromPackage(j('node_modules', 'dep', 'index.js'))).toBe(true);
  });

  it('the vitest stand-in runs suites under node --test: passes pass, a failure fails the run and prints its seed hook', async () => {
    const app = path.join(tmp, 'shim');
    await writeVitestShim(app);
    write(path.join(app, 'package.json'), '{"type":"module"}');
    write(path.join(app, 'suite.test.js'), [
      "import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';",
      'let ready = 0;',
      'beforeAll(() => { ready = 1; });',
      "describe.each(['naive', 'tiled'])('matmul %s', (v) => {",
      "  it('sees beforeAll', () => expect(ready).toBe(1));",
      "  it.each([[2, 4], [3, 6]])('doubles %d', (x, y) => expect(2 * x).toBe(y));",
      "  it('fails for tiled', () => { onTestFailed(() => console.error(`reproduce ${v}`)); expect(v).toBe('naive'); });",
      '});',
      "afterAll(() => console.log('after all ran'));",
    ].join('\n'));
    const r = spawnSync(process.execPath, ['--test', '--test-reporter=spec', 'suite.test.js'], { cwd: app, encoding: 'utf8' });
    const out = r.stdout + r.stderr;
    expect(r.status).toBe(1);
    expect(out).toMatch(/^ℹ tests 8$/m);
    expect(out).toMatch(/^ℹ pass 7$/m);
    expect(out).toMatch(/^ℹ fail 1$/m);
    expect(out).toContain('matmul tiled');
    expect(out).toContain('doubles 3');
    expect(out).toContain('reproduce tiled');
    expect(out).not.toContain('reproduce naive');
    expect(out).toContain('after all ran');
  });
});
