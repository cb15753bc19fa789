/** Moved to the test kit (testkit/simulated-gate.ts), shared with `anxin demo` and the benchmarks. */
export * from '../../testkit/simulated-gate.ts';
