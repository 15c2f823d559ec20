import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineConfig } from 'vitest/config';

// Tests must neither read nor fill the developer's layer cache: a stale entry would hide a bug.
const cacheHome = mkdtempSync(join(tmpdir(), 'stratascan-test-cache-'));

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 180_000,
    pool: 'forks',
    env: { XDG_CACHE_HOME: cacheHome },
    reporters: ['default', './test/support/summary-reporter.ts'],
  },
});
