/** Moved to the test kit (testkit/cloud.ts), which the demo, the suites and the benchmarks share. */
export * from '../../testkit/cloud.ts';
