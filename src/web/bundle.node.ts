// The browser bundle (Node side: `npm run build:web`, `coca export web`). One ES module per entry (esbuild, resolving
// `#gpu-host` to the browser host through the "browser" condition), the WGSL sources beside it
// in shaders/ with an index.json listing them, which the browser host fetches before the device
// opens, and for the default entry its page (src/web/index.html: opens the GPU, or says in one
// sentence why it cannot). Offline: nothing is fetched from anywhere at build or run time.
// `.node.ts`: runs in Node only, and is no browser entry of scripts/check-layers.ts.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface WebBuild {
  /** Bytes of each written module, by path relative to `outdir`. */
  modules: Record<string, number>;
  /** Bytes of the WGSL sources together, and their number. */
  shaderBytes: number;
  shaders: number;
}

export interface WebBuildOptions {
  /** Entry modules (repository-relative); default src/web/coca.ts. */
  entries?: string[];
  outdir: string;
  minify?: boolean;
}

export async function buildWeb(o: WebBuildOptions): Promise<WebBuild> {
  const entries = (o.entries ?? ['src/web/coca.ts']).map((e) => path.join(ROOT, e));
  fs.mkdirSync(o.outdir, { recursive: true });
  const r = await build({
    entryPoints: entries,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    outdir: o.outdir,
    minify: o.minify ?? true,
    metafile: true,
    logLevel: 'silent',
    absWorkingDir: ROOT,
  });
  const modules: Record<string, number> = {};
  for (const [file, out] of Object.entries(r.metafile.outputs)) modules[path.relative(o.outdir, path.join(ROOT, file))] = out.bytes;
  const shaderDir = path.join(o.outdir, 'shaders');
  fs.mkdirSync(shaderDir, { recursive: true });
  const names = fs.readdirSync(path.join(ROOT, 'shaders')).filter((f) => f.endsWith('.wgsl')).map((f) => f.slice(0, -5)).sort();
  let shaderBytes = 0;
  for (const n of names) {
    fs.copyFileSync(path.join(ROOT, 'shaders', `${n}.wgsl`), path.join(shaderDir, `${n}.wgsl`));
    shaderBytes += fs.statSync(path.join(shaderDir, `${n}.wgsl`)).size;
  }
  fs.writeFileSync(path.join(shaderDir, 'index.json'), JSON.stringify(names));
  if (!o.entries) fs.copyFileSync(path.join(ROOT, 'src', 'web', 'index.html'), path.join(o.outdir, 'index.html'));
  return { modules, shaderBytes, shaders: names.length };
}
