// The CPU's BLAS sgemm on the same sizes, for the "× BLAS" column: Debian's python3-numpy on
// OpenBLAS (scripts/bench/blas_sgemm.py). Run between GPU measurements, never beside them: both
// want every core.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface BlasResult {
  M: number;
  N: number;
  K: number;
  gflops: number;
  ms: number;
  blas: string;
}

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'scripts', 'bench', 'blas_sgemm.py');

/** Results by "MxNxK", or a note saying why there are none. */
export function runBlasSgemm(sizes: [number, number, number][]): { results: Map<string, BlasResult>; note?: string } {
  const results = new Map<string, BlasResult>();
  // Debian's numpy (linked to the system OpenBLAS) is the reference the figures are quoted
  // against; another python3 on PATH may carry a different BLAS.
  const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
  const r = spawnSync(python, [SCRIPT, ...sizes.map((s) => s.join(','))], { encoding: 'utf8', timeout: 600_000 });
  if (r.error || r.status !== 0) return { results, note: `BLAS column skipped: ${python} did not run (${r.error?.message ?? r.stderr.trim().split('\n').pop()})` };
  for (const line of r.stdout.trim().split('\n')) {
    if (!line) continue;
    const j = JSON.parse(line) as BlasResult & { error?: string };
    if (j.error) return { results, note: `BLAS column skipped: ${j.error}` };
    results.set(`${j.M}x${j.N}x${j.K}`, j);
  }
  return { results };
}
