import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    // dist/ (which the child-process tests import) rebuilt when older than lib/ or bench/.
    globalSetup: ['tests/setup/fresh_dist.ts'],
    // Native addons and worker threads do not mix well; each file gets a process.
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 120_000,
    reporters: ['default'],
  },
});
