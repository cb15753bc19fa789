/**
 * Polling for the demo tests, which watch a child process from outside: `probe` every 250 ms
 * until it returns a value, its errors (the port not open yet, a half-written response) taken as
 * "not yet" and the last one reported if `timeoutMs` runs out.
 */
export async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}
