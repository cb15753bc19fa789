/** Moved to testkit/socat.ts; this re-export goes once the tests in flight have moved too. */
export * from '../../testkit/socat.ts';
