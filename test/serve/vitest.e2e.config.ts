// `npm run test:e2e`: the page in Debian's chromium. Kept out of `npm test` (a browser start
// costs more than the whole API suite); CI runs it as its own step.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    root: new URL('../..', import.meta.url).pathname,
    include: ['test/serve/**/*.e2e.ts'],
    testTimeout: 180_000,
    hookTimeout: 180_000,
    pool: 'forks',
    reporters: process.env.CI ? ['verbose'] : ['default'],
  },
});
