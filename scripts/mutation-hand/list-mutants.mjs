// Stryker's own instrumenter, run alone: the mutants Stryker would test in a file (id, mutator,
// replacement, location, static or not), as a report the harness reads. usage (from the repository root): node scripts/mutation-hand/list-mutants.mjs src/file.ts out.json
import fs from 'node:fs';
import { Instrumenter } from '@stryker-mutator/instrumenter';
const [file, out] = process.argv.slice(2);
const log = { debug() {}, info() {}, warn: console.error, error: console.error, trace() {}, isDebugEnabled: () => false, isTraceEnabled: () => false, isInfoEnabled: () => false, isWarnEnabled: () => true, isErrorEnabled: () => true, fatal: console.error, isFatalEnabled: () => true };
const ins = new Instrumenter(log);
const r = await ins.instrument([{ name: file, content: fs.readFileSync(file, 'utf8'), mutate: true }], { plugins: null, excludedMutations: [], ignorers: [], noHeader: false });
const mutants = r.mutants.map((m) => ({ id: m.id, mutatorName: m.mutatorName, replacement: m.replacement, location: { start: { line: m.location.start.line + 1, column: m.location.start.column + 1 }, end: { line: m.location.end.line + 1, column: m.location.end.column + 1 } }, status: m.isStatic ? 'Ignored' : 'Pending' }));
fs.writeFileSync(out, JSON.stringify({ files: { [file]: { mutants } } }));
console.log(mutants.length, 'mutants,', mutants.filter((m) => m.status === 'Ignored').length, 'static');
