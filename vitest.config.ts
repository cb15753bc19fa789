import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // fast-check properties run under one fixed seed in CI (ANXIN_PROPERTY_SEED overrides it).
    setupFiles: ['test/helpers/property-seed.ts'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Integration suites bind real ports and ptys; two cores, so keep parallelism modest.
    maxWorkers: 2,
  },
});
