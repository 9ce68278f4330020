import { defineConfig } from 'vitest/config';

// The tests Stryker runs against each mutant (npm run test:mutation): the unit tests, which need
// no GPU adapter and so are affordable hundreds of times over. Left out: the IdleWaiter timing
// test (src/gpu is outside the mutated scope, and its wall-clock limits fail on a loaded machine)
// and the worker-thread test (code run in a worker never sees Stryker's active mutant).
// COCA_MUTATION_TESTS (comma-separated files or globs) narrows them to the tests that import the
// files being mutated: Stryker's first run covers every included test once, which on two shared
// cores is most of the time when one file is mutated.
const only = process.env.COCA_MUTATION_TESTS?.split(',').map((s) => s.trim()).filter(Boolean);

export default defineConfig({
  test: {
    include: only?.length ? only : ['test/unit/**/*.test.ts'],
    exclude: ['test/unit/wait.test.ts', 'test/unit/data/workers.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    reporters: ['default'],
  },
});
