// Hand-mutation harness: applies each mutant of a Stryker JSON report (their replacement text at their
// location) to a copy of the source, and runs an unchanged test file against it in a worker thread
// (vitest's describe/it/it.each/expect replaced by a small shim; 8 s limit per mutant = "timed out").
// usage (from the repository root): node scripts/mutation-hand/apply-mutants.mjs mutants.json src/data/clip-text.ts TEST.test.ts [more] > out
// (mutants.json from list-mutants.mjs; a test may import the mutated file, vitest and node modules only)
import fs from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import esbuild from 'esbuild';
import os from 'node:os';
const [report, srcRel, ...tests] = process.argv.slice(2);
const ROOT = process.cwd();
const OUT = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-mut-'));
const rep = JSON.parse(fs.readFileSync(report, 'utf8'));
const key = Object.keys(rep.files).find((k) => k.endsWith(srcRel));
const source = fs.readFileSync(path.join(ROOT, srcRel), 'utf8');
const lines = source.split('\n');
const offset = (l, c) => lines.slice(0, l - 1).reduce((a, s) => a + s.length + 1, 0) + c - 1;
const shim = path.join(OUT, 'vitest-shim.mjs');
fs.writeFileSync(shim, `
const eq = (a, b) => JSON.stringify(a) === JSON.stringify(b) || Object.is(a, b);
const fail = (m) => { throw new Error(m); };
export const expect = (v) => ({
  toBe: (w) => Object.is(v, w) || fail('toBe ' + JSON.stringify(v) + ' ' + JSON.stringify(w)),
  toEqual: (w) => eq(v, w) || fail('toEqual'),
  toMatch: (r) => (typeof r === 'string' ? v.includes(r) : r.test(v)) || fail('toMatch'),
  toHaveLength: (n) => v.length === n || fail('len'),
});
export const tests = [];
export const describe = (_n, f) => f();
export const it = (n, f) => tests.push([n, f]);
it.each = (rows) => (n, f) => rows.forEach((r) => tests.push([n, () => f(...r)]));
`);
const toJs = (file, rewrite) => {
  let code = esbuild.transformSync(fs.readFileSync(file, 'utf8'), { loader: 'ts', format: 'esm' }).code;
  return rewrite(code);
};
const results = [];
const mutants = rep.files[key].mutants.filter((m) => m.status !== 'Ignored');
for (const m of mutants) {
  const a = offset(m.location.start.line, m.location.start.column);
  const b = offset(m.location.end.line, m.location.end.column);
  let mutated = source.slice(0, a) + m.replacement + source.slice(b);
  mutated = mutated.replace("path.dirname(fileURLToPath(import.meta.url))", JSON.stringify(path.join(ROOT, path.dirname(srcRel))));
  const modFile = path.join(OUT, `mod-${m.id}.mjs`);
  try {
    fs.writeFileSync(modFile, esbuild.transformSync(mutated, { loader: 'ts', format: 'esm' }).code);
  } catch (e) {
    results.push([m, 'CompileError']);
    continue;
  }
  const testFiles = tests.map((t, i) => {
    const f = path.join(OUT, `test-${m.id}-${i}.mjs`);
    fs.writeFileSync(f, toJs(path.resolve(ROOT, t), (c) => c.replace(/from ["']vitest["']/g, `from ${JSON.stringify(shim)}`).replace(new RegExp(`from ["'][./]*${srcRel.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}["']`, 'g'), `from ${JSON.stringify(modFile)}`).replace(/import\.meta\.dirname/g, JSON.stringify(path.dirname(path.resolve(ROOT, t))))));
    return f;
  });
  const status = await new Promise((resolve) => {
    const w = new Worker(`
      const { workerData, parentPort } = require('node:worker_threads');
      (async () => {
        const shim = await import(workerData.shim);
        shim.tests.length = 0;
        for (const f of workerData.files) await import(f);
        const failed = [];
        for (const [n, fn] of shim.tests) { try { await fn(); } catch (e) { failed.push(n + ': ' + String(e.message).slice(0, 80)); } }
        parentPort.postMessage({ failed, total: shim.tests.length });
      })().catch((e) => parentPort.postMessage({ failed: ['load: ' + e.message], total: 0 }));
    `, { eval: true, workerData: { shim, files: testFiles } });
    const t = setTimeout(() => { w.terminate(); resolve({ s: 'Timeout' }); }, 8000);
    w.on('message', (r) => { clearTimeout(t); w.terminate(); resolve(r.failed.length ? { s: 'Killed', why: r.failed[0], n: r.failed.length, total: r.total } : { s: 'Survived', total: r.total }); });
    w.on('error', (e) => { clearTimeout(t); resolve({ s: 'Killed', why: 'error ' + e.message }); });
  });
  results.push([m, status.s]);
  console.log(`${status.s}\t${m.id}\t${m.location.start.line}:${m.location.start.column}\t${m.mutatorName}\t${JSON.stringify(m.replacement).slice(0, 70)}\t${status.why ?? ''}${status.total !== undefined ? ' (' + (status.n ?? 0) + '/' + status.total + ')' : ''}`);
}
const count = (s) => results.filter(([, r]) => r === s).length;
console.log(`# ${results.length} mutants: killed ${count('Killed')}, timeout ${count('Timeout')}, survived ${count('Survived')}, compile error ${count('CompileError')}`);
