import { defineConfig } from 'vitest/config';

/**
 * Three lanes, named by file (checked by test/lanes.test.ts): `unit` needs nothing outside node and
 * is the inner loop (`npm run test:unit`); `integration` starts socat, Mosquitto, PostgreSQL or child
 * processes; `browser` drives Chromium. `npm test` runs all three.
 */
const INTEGRATION = 'test/**/*.integration.test.ts';
const BROWSER = 'test/**/*.browser.test.ts';

export default defineConfig({
  test: {
    // fast-check properties run under one fixed seed in CI (ANXIN_PROPERTY_SEED overrides it).
    setupFiles: ['test/helpers/property-seed.ts'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Integration suites bind real ports and ptys; two cores, so keep parallelism modest.
    maxWorkers: 2,
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/**/*.test.ts'], exclude: [INTEGRATION, BROWSER] } },
      { extends: true, test: { name: 'integration', include: [INTEGRATION] } },
      { extends: true, test: { name: 'browser', include: [BROWSER] } },
    ],
  },
});
