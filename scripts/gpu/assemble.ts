// Assembles the application part of the GPU run kit (scripts/gpu/pack.sh calls it): coca compiled
// to plain JavaScript file by file, in the repository's own layout, so every path a module finds
// beside itself (shaders/, src/model/configs, the PyTorch reference) resolves as it does here;
// the npm packages coca loads at run time, for linux-x64 only; the test suites the kit runs; and
// a small dataset. Nothing in the result needs tsx, vitest or a network.
//
//   npx tsx scripts/gpu/assemble.ts --app DIR [--data DIR]
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** What the kit compiles: the whole program, and the suites it runs on the GPU. */
export const KIT_SOURCES = ['src', 'kernels', 'test/helpers', 'test/kernels', 'test/gpu', 'test/model/parity.test.ts', 'scripts/gpu/summary.ts'];
/** Files copied as they are (read at run time beside the modules). */
export const KIT_ASSETS = ['shaders', 'src/model/configs', 'src/serve/public', 'test/fixtures', 'scripts/reference/coca_torch.py', 'scripts/bench/blas_sgemm.py', 'scripts/gpu/torch_bench.py'];
/**
 * package.json dependencies the kit leaves out: tsx (the kit runs compiled JavaScript), type
 * declarations, and the Rust `tokenizers`, which only `coca data build` uses to learn a BPE (the
 * kit's dataset brings its tokenizer.json; encoding uses the pure-JS @huggingface/tokenizers).
 */
export const KIT_EXCLUDED_PACKAGES = ['tsx', '@webgpu/types', 'tokenizers'];

function walk(p: string, out: string[] = []): string[] {
  const st = fs.statSync(p);
  if (st.isFile()) out.push(p);
  else for (const e of fs.readdirSync(p).sort()) walk(path.join(p, e), out);
  return out;
}

/**
 * Every relative `./x.ts` import becomes `./x.js` and stays external: one output per input, in
 * the same place, instead of a bundle (a bundle would move import.meta.url away from the files
 * each module reads beside itself). Packages stay external too: they are copied, not inlined.
 */
const keepImports: Plugin = {
  name: 'keep-imports',
  setup(b) {
    b.onResolve({ filter: /.*/ }, (a) => {
      if (a.kind === 'entry-point') return undefined;
      return { path: a.path.startsWith('.') ? a.path.replace(/\.ts$/, '.js') : a.path, external: true };
    });
  },
};

/** Compiles each .ts under `roots` (relative to `repo`) to `outDir` with the same relative path. */
export async function compileTree(repo: string, roots: string[], outDir: string): Promise<string[]> {
  const entries = roots.flatMap((r) => walk(path.join(repo, r))).filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'));
  await build({
    entryPoints: entries,
    outdir: outDir,
    outbase: repo,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node22',
    sourcemap: false,
    logLevel: 'warning',
    plugins: [keepImports],
  });
  return entries.map((f) => path.relative(repo, f).replace(/\.ts$/, '.js'));
}

/** Package folder of `name` as Node would resolve it from `from`, or null. */
function findPackage(name: string, from: string): string | null {
  for (let d = from; ; d = path.dirname(d)) {
    const p = path.join(d, 'node_modules', name);
    if (fs.existsSync(path.join(p, 'package.json'))) return p;
    if (path.dirname(d) === d) return null;
  }
}

/**
 * The packages `roots` load, transitively (dependencies and the optional ones installed here),
 * as folders relative to `repo`: each copied to the same place keeps Node's resolution intact.
 */
export function runtimePackages(repo: string, roots: string[]): string[] {
  const seen = new Set<string>();
  const visit = (name: string, from: string) => {
    const p = findPackage(name, from);
    if (!p || seen.has(p)) return;
    seen.add(p);
    const pj = JSON.parse(fs.readFileSync(path.join(p, 'package.json'), 'utf8')) as { dependencies?: Record<string, string>; optionalDependencies?: Record<string, string> };
    for (const dep of Object.keys({ ...pj.dependencies, ...pj.optionalDependencies })) {
      if (!KIT_EXCLUDED_PACKAGES.includes(dep)) visit(dep, p);
    }
  };
  for (const r of roots) {
    if (!findPackage(r, repo)) throw new Error(`package ${r} is not installed here; run npm ci first`);
    visit(r, repo);
  }
  return [...seen].map((p) => path.relative(repo, p)).sort();
}

/** Files of a package the kit leaves behind: other platforms' binaries, docs, types, maps. */
export function droppedFromPackage(rel: string): boolean {
  const parts = rel.split(path.sep);
  if (parts.includes('node_modules')) return true; // nested packages are copied as packages of their own
  if (/\.(d\.[cm]?ts|map|md|markdown)$/i.test(rel) && !/^licen[cs]e/i.test(parts.at(-1)!)) return true;
  if (parts[0] === 'dist' && parts.length > 2 && /^(darwin|win32|linux-arm)/.test(parts[1]!)) return true; // webgpu: linux-x64 only
  return ['test', 'tests', '__tests__', 'docs', 'example', 'examples', 'benchmark', 'benchmarks', '.github'].includes(parts[0]!);
}

function copyFiltered(src: string, dst: string, drop: (rel: string) => boolean): number {
  let bytes = 0;
  for (const f of walk(src)) {
    const rel = path.relative(src, f);
    if (drop(rel)) continue;
    fs.mkdirSync(path.dirname(path.join(dst, rel)), { recursive: true });
    fs.copyFileSync(f, path.join(dst, rel));
    bytes += fs.statSync(f).size;
  }
  return bytes;
}

function runtimeRoots(repo: string): string[] {
  const pj = JSON.parse(fs.readFileSync(path.join(repo, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  return Object.keys(pj.dependencies).filter((d) => !KIT_EXCLUDED_PACKAGES.includes(d));
}

/** The vitest stand-in as an installed package, so the compiled tests' `from 'vitest'` resolves. */
export async function writeVitestShim(app: string): Promise<void> {
  const dir = path.join(app, 'node_modules', 'vitest');
  await build({ entryPoints: [path.join(REPO, 'scripts/gpu/vitest-shim.ts')], outfile: path.join(dir, 'index.js'), format: 'esm', platform: 'node', target: 'node22', logLevel: 'warning' });
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'vitest', version: '0.0.0-coca-kit', type: 'module', main: 'index.js', description: 'coca run kit: scripts/gpu/vitest-shim.ts on node:test' }, null, 2));
}

interface RepoPackageJson {
  version: string;
  imports?: Record<string, string | Record<string, string>>;
}

/**
 * The kit's package.json: the repository's subpath imports (`#gpu-host`: the device layer's host,
 * chosen by condition) pointed at the compiled .js files; without them no module that reaches the
 * device layer loads.
 */
export function kitPackageJson(pj: RepoPackageJson): Record<string, unknown> {
  const js = (target: string) => target.replace(/\.ts$/, '.js');
  const imports = Object.fromEntries(
    Object.entries(pj.imports ?? {}).map(([name, t]) => [name, typeof t === 'string' ? js(t) : Object.fromEntries(Object.entries(t).map(([cond, v]) => [cond, js(v)]))]),
  );
  return { name: 'coca-kit', version: pj.version, type: 'module', private: true, imports };
}

export async function assemble(app: string, dataDir: string | null): Promise<void> {
  fs.rmSync(app, { recursive: true, force: true });
  fs.mkdirSync(app, { recursive: true });
  const compiled = await compileTree(REPO, KIT_SOURCES, app);
  for (const a of KIT_ASSETS) fs.cpSync(path.join(REPO, a), path.join(app, a), { recursive: true });
  // The two entry points that register tsx here import the compiled modules there.
  fs.mkdirSync(path.join(app, 'bin'), { recursive: true });
  fs.writeFileSync(path.join(app, 'bin', 'coca.js'), "#!/usr/bin/env node\n// The run kit's `coca`: compiled JavaScript, no tsx.\nawait import('../src/cli/main.js');\n");
  fs.writeFileSync(path.join(app, 'src', 'data', 'prep-worker.mjs'), "await import('./prep-worker.js');\n");
  const pj = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as RepoPackageJson;
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify(kitPackageJson(pj), null, 2));
  let vendored = 0;
  const packages = runtimePackages(REPO, runtimeRoots(REPO));
  for (const p of packages) vendored += copyFiltered(path.join(REPO, p), path.join(app, p), droppedFromPackage);
  await writeVitestShim(app);
  if (dataDir) {
    const name = path.basename(dataDir);
    fs.cpSync(dataDir, path.join(app, 'cache', 'data', name), { recursive: true });
  }
  console.log(`assemble: ${compiled.length} modules compiled, ${packages.length} packages (${(vendored / 2 ** 20).toFixed(1)} MiB), data: ${dataDir ?? 'none'}`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(name);
    return i > 0 ? process.argv[i + 1] ?? null : null;
  };
  const app = arg('--app');
  if (!app) {
    console.error('assemble: --app DIR is required (where the kit\'s application folder is written)');
    process.exit(2);
  }
  const data = arg('--data');
  if (data && !fs.existsSync(path.join(data, 'manifest.json'))) {
    console.error(`assemble: ${data} is no built dataset (no manifest.json); build it with \`coca data build --small\``);
    process.exit(2);
  }
  await assemble(path.resolve(app), data ? path.resolve(data) : null);
}
