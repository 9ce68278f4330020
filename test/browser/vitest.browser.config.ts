// `npm run test:browser`: the kernel suite in Debian's chromium on its bundled SwiftShader (or the
// machine's GPU). Kept out of `npm test` (a browser start and SwiftShader's shader compiles cost
// more than the suite's Node twin); CI runs it as its own step.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    root: new URL('../..', import.meta.url).pathname,
    include: ['test/browser/**/*.browser.ts'],
    testTimeout: 300_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // One chromium at a time: SwiftShader takes every core it is given.
    fileParallelism: false,
    reporters: process.env.CI ? ['verbose'] : ['default'],
  },
});
