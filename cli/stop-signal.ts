/**
 * Long-running commands (demo, broker, cloud, edge, the simulators) run until SIGINT or SIGTERM,
 * then stop cleanly and exit 0. Resolves with the signal; both listeners are removed again so a
 * second Ctrl-C during a slow stop falls back to Node's default (exit at once).
 */
export function untilStopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const done = (signal: NodeJS.Signals) => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      resolve(signal);
    };
    process.on('SIGINT', done);
    process.on('SIGTERM', done);
  });
}
