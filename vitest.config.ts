import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // GPU tests run on lavapipe in CI: with a cold shader cache the first dispatch of each
    // pipeline JIT-compiles (seconds, a minute for the biggest on a busy machine), so per-test
    // limits are generous. A test that times out keeps running in the background and disturbs
    // the next one, so a limit should only ever catch a hang. CI bounds the whole run as well.
    testTimeout: 600_000,
    hookTimeout: 600_000,
    pool: 'forks',
    maxWorkers: 2,
    reporters: process.env.CI ? ['verbose'] : ['default'],
  },
});
