// `npm run build:web`: the browser bundle (src/web/bundle.node.ts) into dist/web.
//   npx tsx scripts/build-web.ts [--out DIR] [--no-minify]     (default dist/web, minified)
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildWeb, ROOT } from '../src/web/bundle.node.ts';

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
  console.log(`build-web: done in ${((performance.now() - t) / 1000).toFixed(1)} s`);
}
