import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 180_000,
    // The real-dockerd suites start their own daemon; running two at once only slows both down.
    fileParallelism: true,
    pool: 'forks',
    reporters: ['default', './test/support/summary-reporter.ts'],
  },
});
