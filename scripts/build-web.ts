// `npm run build:web`: the browser bundle (src/web/bundle.node.ts) into dist/web, and the
// train-in-a-tab page (src/web/train-site.node.ts) into dist/web/train/ when the built-in data is
// there to cut its training pairs from.
//   npx tsx scripts/build-web.ts [--out DIR] [--no-minify]     (default dist/web, minified)
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildWeb, ROOT } from '../src/web/bundle.node.ts';
import { writeTrainSite } from '../src/web/train-site.node.ts';
import { builtinDir } from '../src/data/paths.ts';
import fs from 'node:fs';

export { buildWeb };

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const unknown = args.filter((a, i) => a !== '--no-minify' && a !== '--out' && args[i - 1] !== '--out');
  if (unknown.length || (args.includes('--out') && !args[args.indexOf('--out') + 1])) {
    console.error(`build-web: unknown or incomplete option ${unknown[0] ?? '--out'}; usage: tsx scripts/build-web.ts [--out DIR (default dist/web)] [--no-minify]`);
    process.exit(2);
  }
  const outdir = path.resolve(args.includes('--out') ? args[args.indexOf('--out') + 1]! : path.join(ROOT, 'dist', 'web'));
  const t = performance.now();
  const b = await buildWeb({ outdir, minify: !args.includes('--no-minify') });
  const kb = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
  for (const [f, n] of Object.entries(b.modules)) console.log(`${path.join(path.relative(process.cwd(), outdir) || '.', f)}  ${kb(n)}`);
  console.log(`${path.join(path.relative(process.cwd(), outdir) || '.', 'shaders')}/  ${b.shaders} WGSL files, ${kb(b.shaderBytes)}`);
  const train = path.join(outdir, 'train');
  if (fs.existsSync(path.join(builtinDir(true), 'manifest.json'))) {
    const t = await writeTrainSite(train, { minify: !args.includes('--no-minify') });
    console.log(`${path.relative(process.cwd(), train)}/  the train-in-a-tab page: ${t.pairs} training pairs ${kb(t.data)}, bundle ${kb(t.bundle)}, shaders ${kb(t.shaders)}, ${kb(t.total)} in all`);
  } else console.log(`${path.relative(process.cwd(), train)}/  not written: the train-in-a-tab page cuts its pairs from the built-in data, which is not built (coca data build --small)`);
  console.log(`build-web: done in ${((performance.now() - t) / 1000).toFixed(1)} s`);
}
