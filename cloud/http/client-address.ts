/**
 * The caller's network address as the socket sees it (no `X-Forwarded-For`: a header is the
 * caller's to forge). Behind a reverse proxy every caller shares the proxy's address, so the
 * per-address limits then act for the proxy as a whole (docs/security.md, "Login throttling").
 */
import type { Context } from 'hono';

interface NodeBindings {
  incoming?: { socket?: { remoteAddress?: string } };
  server?: NodeBindings;
}

export function clientAddress(c: Context): string {
  const env = c.env as NodeBindings | undefined;
  const bindings = env?.server ?? env;
  return bindings?.incoming?.socket?.remoteAddress ?? 'unknown';
}

/** Whether the caller is on this machine (127.0.0.0/8, ::1, IPv4-mapped loopback). */
export function isLoopback(address: string): boolean {
  return address === '::1' || /^(::ffff:)?127\./.test(address);
}
