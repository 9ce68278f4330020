// The layer check: every import under src/, kernels/ and shaders/ points downward.
//
//   cli → serve, bench, web → eval, train, infer, interop → model → nn → tensor → kernels → gpu
//   data and util: leaves that any layer may use; they import nothing but each other.
//
// A folder is `src/<name>` (src/tensor/ops is part of tensor), `kernels` (with kernels/bench) or
// `shaders`. Three rules, each failing with the file, the line and the import:
//   1. No upward import (a lower layer importing a higher one).
//   2. Nothing above src/tensor imports kernels/, except the EXCEPTIONS below.
//   3. No cycle between folders, even between folders of one rank (eval, train and infer may
//      use each other one way only).
// Type-only imports (`import type`) count like any other: a type still ties the two folders
// together, and whoever moves one must know the other. Cycles inside one folder are not checked;
// the one there is (tensor.ts ↔ tape.ts, for Tensor.creator) is type-only and micrograd's own
// shape. Shaders: `//#include name` must name a file in shaders/, with no include cycle.
//
// A fourth rule for the browser: from each browser entry (src/web/*.ts but *.node.ts, test/browser/*.page.ts)
// the imports that reach the bundle (type-only ones are erased), with `#` imports resolved as
// esbuild resolves them for the browser (package.json "imports", "browser" condition), lead to no
// Node built-in and no package outside BROWSER_PACKAGES: dawn.node, sharp, fs or the tokenizer
// trainer in that graph would break the bundle. Nor does a file of that graph use Node's globals
// (process, Buffer, require), which would build and then fail in the tab.
//
// `npx tsx scripts/check-layers.ts` prints what it finds; test/unit/layers.test.ts and
// test/unit/browser-graph.test.ts run it.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const RANK: Record<string, number> = { cli: 0, serve: 1, bench: 1, web: 1, eval: 2, train: 2, infer: 2, interop: 2, model: 3, nn: 4, tensor: 5, kernels: 6, gpu: 7 };
const LEAVES = new Set(['data', 'util']);

interface Allowance {
  from: RegExp;
  to: RegExp;
  why: string;
}

/** The stated ways past src/tensor into kernels/. */
const EXCEPTIONS: Allowance[] = [
  { from: /^src\/train\/adamw\.ts$/, to: /^kernels\/adamw\.ts$/, why: "the optimiser's fused AdamW: an update of every parameter in place, not an op on the tape" },
  { from: /^src\/train\/ema\.ts$/, to: /^kernels\/ema\.ts$/, why: 'the moving average of the weights (--ema): a whole-arena update after AdamW, not an op on the tape' },
  {
    from: /^src\/(bench\/|cli\/bench\.ts$)/,
    to: /^kernels\/(bench\/|[^/]+\.bench\.ts$)/,
    why: '`coca bench` lists and runs the kernel benchmarks, whose harness lives beside the kernels',
  },
  {
    from: /^src\/cli\/(info|kernel-shapes)\.ts$/,
    to: /^kernels\/choices\.ts$/,
    why: '`coca info --kernels` prints what the variant heuristics choose, through the functions the kernels call',
  },
];

/**
 * Imports that break the rules today and that another branch of issue 15 is removing now.
 * Each names the branch; the list must end empty. An entry that no longer matches anything is
 * reported by the script (`stale`) so it can be deleted.
 */
export const PENDING: (Allowance & { branch: string })[] = [];

export interface Import {
  file: string;
  line: number;
  spec: string;
  target: string;
  typeOnly: boolean;
}

export interface LayerReport {
  violations: string[];
  /** PENDING entries that matched nothing. */
  stale: string[];
  files: number;
  imports: number;
}

/** The layer a repository-relative path belongs to, or null outside src/, kernels/, shaders/. */
export function folderOf(rel: string): string | null {
  const parts = rel.split('/');
  if (parts[0] === 'src' && parts.length > 2) return parts[1]!;
  if (parts[0] === 'kernels' || parts[0] === 'shaders') return parts[0];
  return null;
}

function walk(root: string, dir: string, ext: string, out: string[]): void {
  const abs = path.join(root, dir);
  if (!fs.existsSync(abs)) return;
  for (const e of fs.readdirSync(abs, { withFileTypes: true })) {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) walk(root, rel, ext, out);
    else if (e.name.endsWith(ext)) out.push(rel);
  }
}

const IMPORT = /^\s*(import|export)\s+(type\s+)?(?:([^'";]*?)\s+from\s+)?['"]([^'"]+)['"]/gm;
const DYNAMIC = /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;

/** package.json's "imports": each `#name` with its target per condition. */
export function packageImports(root: string): Record<string, Record<string, string>> {
  const file = path.join(root, 'package.json');
  if (!fs.existsSync(file)) return {};
  const raw = (JSON.parse(fs.readFileSync(file, 'utf8')) as { imports?: Record<string, string | Record<string, string>> }).imports ?? {};
  return Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, typeof v === 'string' ? { default: v } : v]));
}

/** Every import of one TypeScript file as written: its specifier, line and whether it is erased. */
function rawImports(text: string): { spec: string; index: number; typeOnly: boolean }[] {
  const out: { spec: string; index: number; typeOnly: boolean }[] = [];
  for (const m of text.matchAll(IMPORT)) {
    // `import { type A, type B } from` is erased like `import type`; `import {} from` is not.
    const names = /^\{([^}]*)\}$/.exec((m[3] ?? '').trim())?.[1]?.split(',').map((n) => n.trim()).filter(Boolean);
    out.push({ spec: m[4]!, index: m.index!, typeOnly: !!m[2] || (!!names?.length && names.every((n) => n.startsWith('type '))) });
  }
  for (const m of text.matchAll(DYNAMIC)) out.push({ spec: m[1]!, index: m.index!, typeOnly: false });
  return out;
}

/**
 * Relative and `#` imports of one TypeScript file, resolved to repository-relative paths (a `#`
 * import once per target it has under any condition).
 */
export function tsImports(root: string, file: string, hashImports = packageImports(root)): Import[] {
  const text = fs.readFileSync(path.join(root, file), 'utf8');
  const lineAt = (i: number) => text.slice(0, i).split('\n').length;
  const out: Import[] = [];
  for (const { spec, index, typeOnly } of rawImports(text)) {
    const targets = spec.startsWith('.')
      ? [path.posix.join(path.posix.dirname(file), spec)]
      : spec.startsWith('#')
        ? [...new Set(Object.values(hashImports[spec] ?? {}))]
        : [];
    for (const t of targets) out.push({ file, line: lineAt(index), spec, target: path.posix.normalize(t), typeOnly });
  }
  return out;
}

/** Packages the browser bundle may import: plain JavaScript with no Node module of their own. */
export const BROWSER_PACKAGES: readonly string[] = ['gl-matrix', '@huggingface/tokenizers'];

// Node's globals, used as values (`process.env`, `Buffer.from`, `require(`): undefined in a tab,
// so code reached by the bundle fails there at run time, not at build time.
const NODE_GLOBAL = /(?<![\w$.])(?:(process|Buffer|__dirname|__filename)\s*[.[]|require\s*\()/g;

/** `text` with comments blanked (same length, so indices keep their lines). */
function codeOnly(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\/|(^|[^:'"`])\/\/.*$/gm, (m, pre: string | undefined) => (pre ?? '') + m.slice((pre ?? '').length).replace(/[^\n]/g, ' '));
}

/** The browser entries: src/web/*.ts but *.node.ts (Node's side of the bundle) and test/browser/*.page.ts. */
function browserEntries(root: string): string[] {
  const out: string[] = [];
  walk(root, 'src/web', '.ts', out);
  out.splice(0, out.length, ...out.filter((f) => !f.endsWith('.node.ts')));
  walk(root, 'test/browser', '.page.ts', out);
  return out.sort();
}

/**
 * What each browser entry's bundle would import that a browser cannot: a Node built-in or a
 * package not in BROWSER_PACKAGES, named with the chain of imports that reaches it.
 */
export function checkBrowserGraph(root: string, entries = browserEntries(root)): string[] {
  const hash = packageImports(root);
  const violations: string[] = [];
  const seen = new Set<string>();
  for (const entry of entries) {
    const via = new Map<string, string>([[entry, entry]]);
    const queue = [entry];
    while (queue.length) {
      const file = queue.shift()!;
      if (!fs.existsSync(path.join(root, file))) continue;
      const text = fs.readFileSync(path.join(root, file), 'utf8');
      const lineAt = (i: number) => text.slice(0, i).split('\n').length;
      for (const m of codeOnly(text).matchAll(NODE_GLOBAL)) {
        violations.push(`${file}:${lineAt(m.index!)} uses Node's ${m[1] ?? 'require'}, which a browser does not have (reached by ${via.get(file)}); ask the host (src/gpu/host.ts) or pass it in`);
      }
      for (const { spec, index, typeOnly } of rawImports(text)) {
        if (typeOnly) continue;
        let target: string | null = null;
        if (spec.startsWith('.')) target = path.posix.normalize(path.posix.join(path.posix.dirname(file), spec));
        else if (spec.startsWith('#')) {
          const t = hash[spec]?.browser ?? hash[spec]?.default;
          if (t) target = path.posix.normalize(t);
        }
        if (target) {
          if (!via.has(target)) {
            via.set(target, `${via.get(file)} → ${target}`);
            queue.push(target);
          }
          continue;
        }
        const pkg = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
        if (BROWSER_PACKAGES.includes(pkg) && !spec.startsWith('node:')) continue;
        const key = `${file}:${spec}`;
        if (seen.has(key)) continue;
        seen.add(key);
        const what = spec.startsWith('node:') || !spec.startsWith('#') ? `'${spec}'` : `'${spec}' (no "browser" or "default" target in package.json's imports)`;
        violations.push(
          `${file}:${lineAt(index)} imports ${what}, which the browser bundle cannot hold (reached by ${via.get(file)}); split the Node part behind a host module or keep it out of the browser's imports`,
        );
      }
    }
  }
  return violations;
}

/** `//#include name` lines of one shader, as shaders/name.wgsl. */
export function shaderIncludes(root: string, file: string): Import[] {
  const out: Import[] = [];
  fs.readFileSync(path.join(root, file), 'utf8')
    .split('\n')
    .forEach((l, i) => {
      const m = /^\s*\/\/#include\s+(\S+)\s*$/.exec(l);
      if (m) out.push({ file, line: i + 1, spec: m[1]!, target: `shaders/${m[1]}.wgsl`, typeOnly: false });
    });
  return out;
}

const where = (i: Import) => `${i.file}:${i.line} imports '${i.spec}'`;

/** What is wrong with one import between two folders, or null. */
function ruleBroken(i: Import, from: string, to: string): string | null {
  if (to === 'shaders' || from === 'shaders') return `${where(i)}: TypeScript and WGSL meet only through the shader loader (src/gpu/shaders.ts), not by import`;
  if (LEAVES.has(from)) return LEAVES.has(to) ? null : `${where(i)}: ${from} is a leaf; it may import only data and util, not ${to}`;
  if (LEAVES.has(to)) return null;
  const rf = RANK[from];
  const rt = RANK[to];
  if (rf === undefined) return `${where(i)}: src/${from} has no place in the layer order; add it to RANK in scripts/check-layers.ts`;
  if (rt === undefined) return `${where(i)}: src/${to} has no place in the layer order; add it to RANK in scripts/check-layers.ts`;
  if (rt < rf) return `${where(i)}: ${from} may not import ${to}, a layer above it`;
  if (to === 'kernels' && rf < RANK.tensor! && !EXCEPTIONS.some((e) => e.from.test(i.file) && e.to.test(i.target))) {
    return `${where(i)}: only src/tensor calls kernels/; ${from} must go through a tensor op (the stated exceptions are EXCEPTIONS in scripts/check-layers.ts)`;
  }
  return null;
}

/** Folder-level cycles: each as the folders in order plus one import per edge. */
function folderCycles(edges: Map<string, Map<string, Import>>): string[] {
  const out: string[] = [];
  const nodes = [...edges.keys()].sort();
  // Tarjan's strongly connected components; a component of two or more folders holds a cycle.
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const comps: string[][] = [];
  const visit = (v: string) => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    on.add(v);
    for (const w of [...(edges.get(v)?.keys() ?? [])].sort()) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const c: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        c.push(w);
      } while (w !== v);
      if (c.length > 1) comps.push(c.sort());
    }
  };
  for (const v of nodes) if (!index.has(v)) visit(v);
  for (const c of comps) {
    const inside = new Set(c);
    const lines: string[] = [];
    for (const a of c) for (const [b, imp] of [...(edges.get(a) ?? [])].sort()) if (inside.has(b)) lines.push(`    ${a} → ${b}: ${where(imp)}`);
    out.push(`folders import each other in a cycle: ${c.join(', ')}\n${lines.join('\n')}`);
  }
  return out;
}

/** Include cycles among shaders (an include of an include that comes back). */
function includeCycles(includes: Import[]): string[] {
  const next = new Map<string, Import[]>();
  for (const i of includes) next.set(i.file, [...(next.get(i.file) ?? []), i]);
  const out: string[] = [];
  const walkFrom = (start: string, at: string, trail: Import[]) => {
    for (const i of next.get(at) ?? []) {
      if (i.target === start) out.push(`shader include cycle: ${[...trail, i].map(where).join(' → ')}`);
      // Each cycle once, from its first file in sort order.
      else if (i.target > start && !trail.some((t) => t.file === i.target)) walkFrom(start, i.target, [...trail, i]);
    }
  };
  for (const f of [...next.keys()].sort()) walkFrom(f, f, []);
  return out;
}

export function checkLayers(root: string, pending = PENDING): LayerReport {
  const files: string[] = [];
  walk(root, 'src', '.ts', files);
  walk(root, 'kernels', '.ts', files);
  const shaders: string[] = [];
  walk(root, 'shaders', '.wgsl', shaders);
  const hash = packageImports(root);
  const imports = files.flatMap((f) => tsImports(root, f, hash));
  const includes = shaders.flatMap((f) => shaderIncludes(root, f));
  const violations: string[] = [];
  const used = new Set<number>();
  const edges = new Map<string, Map<string, Import>>();
  for (const f of files) if (folderOf(f) === null) violations.push(`${f}: a file directly under src/ has no layer; put it in one of src's folders`);
  for (const i of imports) {
    const from = folderOf(i.file);
    const to = folderOf(i.target);
    if (from === null) continue; // named above
    if (to === null) {
      violations.push(`${where(i)}: it leads out of src/, kernels/ and shaders/ (${i.target})`);
      continue;
    }
    if (from === to) continue;
    const p = pending.findIndex((e) => e.from.test(i.file) && e.to.test(i.target));
    if (p >= 0) {
      used.add(p);
      continue;
    }
    const broken = ruleBroken(i, from, to);
    if (broken) {
      violations.push(broken);
      continue; // reported already; a cycle it closes would only name it again
    }
    if (!edges.has(from)) edges.set(from, new Map());
    if (!edges.get(from)!.has(to)) edges.get(from)!.set(to, i);
  }
  for (const i of includes) {
    if (!fs.existsSync(path.join(root, i.target))) violations.push(`${where(i)}: there is no ${i.target}`);
  }
  violations.push(...folderCycles(edges), ...includeCycles(includes), ...checkBrowserGraph(root));
  const stale = pending.filter((_, k) => !used.has(k)).map((e) => `PENDING ${e.from.source} → ${e.to.source} (branch ${e.branch}) matches no import any more: delete it`);
  return { violations, stale, files: files.length + shaders.length, imports: imports.length + includes.length };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  const r = checkLayers(root);
  for (const s of r.stale) console.log(s);
  for (const p of PENDING) console.log(`pending, removed by branch ${p.branch}: ${p.from.source} → ${p.to.source} (${p.why})`);
  if (r.violations.length) {
    console.error(r.violations.join('\n'));
    console.error(`check-layers: ${r.violations.length} import(s) break the layer order (scripts/check-layers.ts says which way the layers go)`);
    process.exit(1);
  }
  console.log(`check-layers: ${r.imports} imports in ${r.files} files, all downward`);
}
