import { defineConfig } from 'vitest/config';

// The tests Stryker runs against each mutant (npm run test:mutation): the unit tests, which need
// no GPU adapter and so are affordable hundreds of times over. Left out: the IdleWaiter timing
// test (src/gpu is outside the mutated scope, and its wall-clock limits fail on a loaded machine)
// and the worker-thread test (code run in a worker never sees Stryker's active mutant).
export default defineConfig({
  test: {
    include: ['test/unit/**/*.test.ts'],
    exclude: ['test/unit/wait.test.ts', 'test/unit/data/workers.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    reporters: ['default'],
  },
});
