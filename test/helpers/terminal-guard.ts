/** Moved to the test kit (testkit/terminal-guard.ts), which the demo, the suites and the benchmarks share. */
export * from '../../testkit/terminal-guard.ts';
