/** Moved to the test kit (testkit/deployment.ts), which the suites and the benchmarks share. */
export * from '../../testkit/deployment.ts';
