/** Moved to testkit/mosquitto.ts; this re-export goes once the tests in flight have moved too. */
export * from '../../testkit/mosquitto.ts';
