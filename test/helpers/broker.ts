/** Moved to the test kit (testkit/broker.ts), which the demo, the suites and the benchmarks share. */
export * from '../../testkit/broker.ts';
