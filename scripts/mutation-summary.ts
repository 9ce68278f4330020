// Per-folder mutation scores and the surviving mutants of a Stryker JSON report, in the form
// docs/mutation.md keeps them: npx tsx scripts/mutation-summary.ts [--files] [reports/mutation/mutation.json ...]
// Several reports (one per folder run) are merged; a file measured twice keeps its last report.
// --files: one row per file instead of per folder.
// A .jsonl input is what scripts/mutation-jsonl-reporter.mjs wrote (COCA_MUTATION_JSONL): the
// mutants a run reached, even one cut short; its mutants are added to those of the same file
// (a mutant tested again keeps its last result), with the file's source read from disk as it is now.
import fs from 'node:fs';
import path from 'node:path';

interface Mutant {
  id: string;
  mutatorName: string;
  replacement?: string;
  status: string;
  location: { start: { line: number; column: number }; end: { line: number; column: number } };
}
interface Report {
  files: Record<string, { source: string; mutants: Mutant[] }>;
}

const perFile = process.argv.includes('--files');
const inputs = process.argv.slice(2).filter((a) => a !== '--files');
const files = new Map<string, { source: string; mutants: Mutant[] }>();
interface JsonlLine {
  file: string;
  line: number;
  col: number;
  endLine: number;
  endCol: number;
  mutator: string;
  replacement?: string;
  status: string;
}
const relative = (name: string) => path.relative(process.cwd(), path.resolve(name));
for (const f of inputs.length ? inputs : ['reports/mutation/mutation.json']) {
  if (f.endsWith('.jsonl')) {
    for (const text of fs.readFileSync(f, 'utf8').split('\n').filter(Boolean)) {
      const m = JSON.parse(text) as JsonlLine;
      // The file as a path inside the worktree the run was made in, e.g. /work/x/src/data/a.ts.
      const name = relative(m.file).replace(/^(\.\.\/)+[^/]+\//, '');
      const entry = files.get(name) ?? { source: fs.readFileSync(name, 'utf8'), mutants: [] };
      const id = `${m.line}:${m.col}:${m.endLine}:${m.endCol}:${m.mutator}:${m.replacement}`;
      entry.mutants = entry.mutants.filter((x) => x.id !== id);
      entry.mutants.push({ id, mutatorName: m.mutator, replacement: m.replacement, status: m.status, location: { start: { line: m.line, column: m.col }, end: { line: m.endLine, column: m.endCol } } });
      files.set(name, entry);
    }
    continue;
  }
  const r = JSON.parse(fs.readFileSync(f, 'utf8')) as Report;
  for (const [name, file] of Object.entries(r.files)) files.set(relative(name), file);
}

const STATUSES = ['Killed', 'Timeout', 'Survived', 'NoCoverage', 'Ignored', 'CompileError', 'RuntimeError'] as const;
const folderOf = (file: string) => (perFile ? file : file.startsWith('kernels/') ? 'kernels (*.ref.ts)' : path.dirname(file));
const byFolder = new Map<string, Record<string, number>>();
for (const [name, file] of files) {
  const row = byFolder.get(folderOf(name)) ?? Object.fromEntries(STATUSES.map((s) => [s, 0]));
  for (const m of file.mutants) row[m.status] = (row[m.status] ?? 0) + 1;
  byFolder.set(folderOf(name), row);
}

// Stryker's score: detected (killed + timed out) over valid mutants (those plus survived and
// uncovered); ignored (static) mutants and runtime/compile errors count on neither side.
const pct = (r: Record<string, number>) => {
  const detected = r['Killed']! + r['Timeout']!;
  const valid = detected + r['Survived']! + r['NoCoverage']!;
  return valid === 0 ? 'n/a' : ((100 * detected) / valid).toFixed(1);
};
console.log(`| ${perFile ? 'file' : 'folder'} | score % | killed | timeout | survived | no coverage | static (ignored) | errors |`);
console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
const total = Object.fromEntries(STATUSES.map((s) => [s, 0]));
for (const [folder, r] of [...byFolder].sort()) {
  for (const s of STATUSES) total[s]! += r[s]!;
  console.log(`| ${folder} | ${pct(r)} | ${r['Killed']} | ${r['Timeout']} | ${r['Survived']} | ${r['NoCoverage']} | ${r['Ignored']} | ${r['CompileError']! + r['RuntimeError']!} |`);
}
console.log(`| all | ${pct(total)} | ${total['Killed']} | ${total['Timeout']} | ${total['Survived']} | ${total['NoCoverage']} | ${total['Ignored']} | ${total['CompileError']! + total['RuntimeError']!} |`);

console.log('\nSurvived / no coverage:');
for (const [name, file] of [...files].sort()) {
  const lines = file.source.split('\n');
  for (const m of file.mutants.filter((x) => x.status === 'Survived' || x.status === 'NoCoverage').sort((a, b) => a.location.start.line - b.location.start.line)) {
    const { start, end } = m.location;
    const original = start.line === end.line ? lines[start.line - 1]!.slice(start.column - 1, end.column - 1) : `${lines[start.line - 1]!.slice(start.column - 1)}…`;
    const clip = (s: string) => (s.length > 70 ? `${s.slice(0, 67)}...` : s).replace(/\s+/g, ' ');
    console.log(`${name}:${start.line} ${m.status === 'NoCoverage' ? '[no coverage] ' : ''}${m.mutatorName}: \`${clip(original)}\` → \`${clip(m.replacement ?? '')}\``);
  }
}
