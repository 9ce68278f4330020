// The last stage of scripts/gpu/check.sh: gathers what every stage left in the run folder (the
// adapter, test counts, `coca bench --json` files, PyTorch's figures, each stage's exit status and
// time) into one figures.json, and prints coca against PyTorch side by side. A stage that timed
// out or failed is reported as such; its figures are simply absent.
//
//   node scripts/gpu/summary.js --dir RUN_DIR --out figures.json
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Stage {
  name: string;
  rc: number;
  seconds: number;
  status: 'ok' | 'failed' | 'timed out' | 'skipped';
}

interface BenchRowLike {
  variant: string;
  shape: string;
  ms: number;
  rate: number;
  ok: boolean;
}
interface StepRowLike {
  preset: string;
  batch: number;
  ms: number;
}
interface TorchFigures {
  torch?: string;
  gpu?: string | null;
  device?: string;
  matmul?: { n: number; dtype: string; ms: number; tflops: number }[];
  attention?: { shape: string; pass: string; ms: number; gflops: number }[];
  step?: { preset: string; mode: string; ms: number }[];
  errors?: { case: string; error: string }[];
}

export interface Comparison {
  what: string;
  coca: string;
  torch: string;
  /** coca's speed over PyTorch's at the same work (> 1: coca faster), or null. */
  ratio: number | null;
}

const readJson = <T>(file: string): T | null => {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch {
    return null;
  }
};

/** stages.tsv: name, exit status, seconds per line (124/137: killed by its timeout). */
export function readStages(text: string): Stage[] {
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => {
      const [name, rc, seconds] = l.split('\t');
      const code = Number(rc);
      const status = rc === 'skip' ? 'skipped' : code === 0 ? 'ok' : code === 124 || code === 137 ? 'timed out' : 'failed';
      return { name: name!, rc: rc === 'skip' ? -1 : code, seconds: Number(seconds), status };
    });
}

/** node --test's closing counts ("ℹ pass 41", or "# pass 41" from the TAP reporter). */
export function readTestCounts(log: string): { tests: number; pass: number; fail: number } | null {
  const count = (k: string) => {
    const all = [...log.matchAll(new RegExp(`^(?:ℹ|#) ${k} (\\d+)\\s*$`, 'gm'))];
    return all.length ? all.reduce((s, m) => s + Number(m[1]), 0) : null;
  };
  const tests = count('tests');
  if (tests === null) return null;
  return { tests, pass: count('pass') ?? 0, fail: count('fail') ?? 0 };
}

const fmt = (x: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '–');
/** A rate in GFLOP/s, shown in TFLOP/s from 1000 up (software adapters stay readable). */
const rate = (gflops: number) => (gflops >= 1000 ? `${fmt(gflops / 1000, 2)} TFLOP/s` : `${fmt(gflops, 2)} GFLOP/s`);
const rowsOf = (report: unknown, family: string): BenchRowLike[] => {
  const r = (report as Record<string, unknown> | null)?.[family];
  const rows = Array.isArray(r) ? r : (r as { rows?: unknown[] } | undefined)?.rows;
  return (rows ?? []) as BenchRowLike[];
};

/** coca against PyTorch, case by case, where both sides have a figure. */
export function compare(bench: Record<string, unknown>, torch: TorchFigures | null, compiled: TorchFigures | null): Comparison[] {
  const out: Comparison[] = [];
  for (const t of torch?.matmul ?? []) {
    const shape = `${t.n}x${t.n}x${t.n}`;
    // f16 against coca's f16 variant (subgroup matrices), fp32 against its best fp32 variant.
    const f16 = t.dtype === 'float16';
    const coca = rowsOf(bench.matmul, 'matmul').filter((r) => r.shape === shape && r.ok && r.variant.endsWith(' NN') && r.variant.startsWith('sgmatrix ') === f16);
    const best = coca.sort((a, b) => b.rate - a.rate)[0];
    if (f16) {
      out.push({
        what: `matmul f16 ${shape}`,
        coca: best ? `${rate(best.rate)} (${best.variant})` : 'not measured (no subgroup matrices here, or the case failed)',
        torch: rate(t.tflops * 1000),
        ratio: best ? best.rate / 1000 / t.tflops : null,
      });
      continue;
    }
    out.push({
      what: `matmul fp32 ${shape} (TF32 off)`,
      coca: best ? `${rate(best.rate)} (${best.variant})` : 'not measured',
      torch: rate(t.tflops * 1000),
      ratio: best ? best.rate / 1000 / t.tflops : null,
    });
  }
  for (const t of torch?.attention ?? []) {
    const coca = rowsOf(bench.attention, 'attention').filter((r) => r.shape === t.shape && r.ok && r.variant.endsWith(` ${t.pass}`));
    const best = coca.sort((a, b) => a.ms - b.ms)[0];
    out.push({
      what: `attention ${t.pass} ${t.shape}`,
      coca: best ? `${fmt(best.ms, 3)} ms (${best.variant.split(' ')[0]})` : 'not measured',
      torch: `${fmt(t.ms, 3)} ms`,
      ratio: best ? t.ms / best.ms : null,
    });
  }
  const steps = (rowsOf(bench.step, 'step') as unknown as StepRowLike[]).filter((r) => typeof r.preset === 'string');
  for (const t of [...(torch?.step ?? []), ...(compiled?.step ?? [])]) {
    const c = steps.find((r) => r.preset === t.preset);
    out.push({ what: `training step ${t.preset} vs ${t.mode}`, coca: c ? `${fmt(c.ms, 1)} ms` : 'not measured', torch: `${fmt(t.ms, 1)} ms`, ratio: c ? t.ms / c.ms : null });
  }
  return out;
}

export function summarise(dir: string): Record<string, unknown> {
  const stages = fs.existsSync(path.join(dir, 'stages.tsv')) ? readStages(fs.readFileSync(path.join(dir, 'stages.tsv'), 'utf8')) : [];
  const bench: Record<string, unknown> = {};
  for (const f of ['matmul', 'attention', 'step', 'decode', 'precision']) bench[f] = readJson(path.join(dir, `bench-${f}.json`));
  const torch = readJson<TorchFigures>(path.join(dir, 'torch.json'));
  const compiled = readJson<TorchFigures>(path.join(dir, 'torch-compile.json'));
  const testsLog = fs.existsSync(path.join(dir, 'tests.log')) ? fs.readFileSync(path.join(dir, 'tests.log'), 'utf8') : '';
  return {
    format: 'coca-gpu-check-1',
    date: new Date().toISOString(),
    kit: readJson(path.join(dir, 'kit.json')),
    stages,
    adapter: readJson(path.join(dir, 'info.json')),
    kernelChoices: readJson(path.join(dir, 'kernels.json')),
    tests: readTestCounts(testsLog),
    coca: bench,
    torch,
    torchCompile: compiled,
    compare: compare(bench, torch, compiled),
  };
}

function print(s: Record<string, unknown>): void {
  const stages = s.stages as Stage[];
  console.log('stages');
  for (const st of stages) console.log(`  ${st.name.padEnd(18)} ${st.status.padEnd(10)} ${fmt(st.seconds, 0).padStart(4)} s${st.status === 'failed' ? ` (exit ${st.rc})` : ''}`);
  const t = s.tests as ReturnType<typeof readTestCounts>;
  console.log(`tests     ${t ? `${t.pass}/${t.tests} passed, ${t.fail} failed` : 'no counts (stage did not finish)'}`);
  const rows = s.compare as Comparison[];
  if (!rows.length) {
    console.log('coca vs PyTorch: nothing to compare (no PyTorch figures)');
    return;
  }
  const w = Math.max(...rows.map((r) => r.what.length));
  const wc = Math.max(...rows.map((r) => r.coca.length));
  console.log(`coca vs PyTorch (same device, same run; ratio > 1: coca faster)`);
  for (const r of rows) console.log(`  ${r.what.padEnd(w)}  ${r.coca.padEnd(wc)}  torch ${r.torch.padEnd(16)} ${r.ratio === null ? '' : `×${fmt(r.ratio, 3)}`}`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(name);
    return i > 0 ? process.argv[i + 1] : undefined;
  };
  const dir = arg('--dir');
  const out = arg('--out');
  if (!dir || !out) {
    console.error('summary: usage: summary.js --dir RUN_DIR --out figures.json');
    process.exit(2);
  }
  const s = summarise(dir);
  fs.writeFileSync(out, JSON.stringify(s, null, 2));
  print(s);
  console.log(`wrote ${out}`);
}
