import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Integration suites bind real ports and ptys; two cores, so keep parallelism modest.
    maxWorkers: 2,
  },
});
