// Mutation testing of the CPU-side logic (npm run test:mutation; not part of npm test or CI).
// docs/mutation.md has the scores, the per-folder commands and the surviving mutants explained.
import path from 'node:path';

// Stryker runs the tests in a copy of the repository without .cache/: point the data layer at
// this checkout's cache (the built-in small dataset some unit tests read) unless one is set.
process.env.COCA_CACHE ??= path.resolve('.cache/coca');

// COCA_MUTATION_JSONL=file: also append each mutant's result to that file as it is tested, so a
// run cut short keeps what it reached (scripts/mutation-jsonl-reporter.mjs).
const jsonl = process.env.COCA_MUTATION_JSONL;

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.mutation.config.ts' },
  // Stryker would rewrite tsconfig.json's paths for its sandbox through TypeScript's JS API, which
  // TypeScript 7 (native) does not have; ours has no extends or references to rewrite, and vitest
  // strips types without it. So name no tsconfig (no type checker either: TypeScript 7 cannot
  // host @stryker-mutator/typescript-checker).
  tsconfigFile: 'no-tsconfig-for-stryker.json',
  coverageAnalysis: 'perTest',
  // A static mutant (a module-level constant) must rerun every test, which was 75% of the time
  // for src/eval alone; on two shared cores they are left out (docs/mutation.md counts them).
  ignoreStatic: true,
  // Two cores shared with GPU tests on lavapipe: one test process per core at most.
  concurrency: 2,
  timeoutMS: 10_000,
  mutate: [
    'src/eval/**/*.ts',
    'src/data/**/*.ts',
    '!src/data/prep-worker.ts',
    // Runs only in a browser (test/browser/image.browser.ts), out of reach of the unit tests.
    '!src/data/image-web.ts',
    'src/train/schedule.ts',
    'src/train/checkpoint.ts',
    'src/train/resume.ts',
    'src/model/config.ts',
    'src/model/config-schema.ts',
    'src/infer/search.ts',
    'kernels/*.ref.ts',
    'src/interop/**/*.ts',
  ],
  ignorePatterns: ['.cache', 'runs', 'bench-results', 'test-artifacts', 'dist', 'reports'],
  plugins: ['@stryker-mutator/*', ...(jsonl ? [path.resolve('scripts/mutation-jsonl-reporter.mjs')] : [])],
  reporters: ['clear-text', 'progress', 'json', 'html', ...(jsonl ? ['jsonl'] : [])],
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  htmlReporter: { fileName: 'reports/mutation/mutation.html' },
  incrementalFile: 'reports/mutation/stryker-incremental.json',
  thresholds: { high: 90, low: 75, break: null },
};
