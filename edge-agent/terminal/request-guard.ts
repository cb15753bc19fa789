/**
 * What every request to the gate terminal passes before any route sees it (docs/security.md
 * "Gate terminal"):
 *
 * - **Host allow-list.** A DNS-rebinding page (`attacker.example` re-pointed at the gate's address)
 *   sends `Host: attacker.example`: refused with 421, whatever the method. Allowed are the loopback
 *   names, the configured listen address, `terminal.allowedHosts`, and — when the terminal listens
 *   on every interface — the machine's own addresses and host name.
 * - **Origin check** on every state-changing request (anything but GET/HEAD/OPTIONS): a browser's
 *   `Origin` must be this very terminal (same scheme-less host and port as `Host`); `Origin: null`
 *   and cross-site `Sec-Fetch-Site` are refused with 403. A non-browser client sends neither.
 * - **Security headers** on every answer: a CSP without inline script or style
 *   (`frame-ancestors 'none'`), `X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY`,
 *   `Referrer-Policy: no-referrer`, and `Cache-Control: no-store` on the API.
 *
 * The body limit is applied per route (terminal-app.ts) with hono's `bodyLimit`, which refuses on
 * `Content-Length` before reading and stops a chunked body at the limit.
 */
import { hostname, networkInterfaces } from 'node:os';
import type { MiddlewareHandler } from 'hono';

const TERMINAL_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "font-src 'none'",
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '[::]']);

/** `example.org:8090` → `example.org`; `[::1]:8090` → `::1`. Lower case; undefined when malformed. */
function hostnameOf(hostHeader: string): string | undefined {
  const value = hostHeader.trim().toLowerCase();
  if (value.length === 0 || value.length > 255) return undefined;
  const bracketed = /^\[([0-9a-f:.]+)\](?::\d{1,5})?$/.exec(value);
  if (bracketed) return bracketed[1];
  const plain = /^([a-z0-9.-]+)(?::\d{1,5})?$/.exec(value);
  return plain ? plain[1]!.replace(/\.$/, '') : undefined;
}

/** The host names a terminal listening on `listenHost` answers to. */
export function allowedHostnames(listenHost: string, extra: readonly string[] = []): Set<string> {
  const names = new Set(['localhost', '127.0.0.1', '::1', ...extra.map((h) => h.toLowerCase())]);
  const listen = listenHost.toLowerCase().replace(/^\[|\]$/g, '');
  if (WILDCARD_HOSTS.has(listenHost) || WILDCARD_HOSTS.has(listen)) {
    for (const addresses of Object.values(networkInterfaces())) {
      for (const a of addresses ?? []) names.add(a.address.toLowerCase().replace(/%.*$/, ''));
    }
    const own = hostname().toLowerCase();
    names.add(own);
    names.add(`${own}.local`);
  } else {
    names.add(listen);
  }
  return names;
}

function refuse(code: string, message: string, status: 403 | 421): Response {
  return new Response(JSON.stringify({ error: { code, message } }), {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8' },
  });
}

export function securityHeaders(): MiddlewareHandler {
  return async (c, next) => {
    await next();
    const h = c.res.headers;
    h.set('Content-Security-Policy', TERMINAL_CSP);
    h.set('X-Content-Type-Options', 'nosniff');
    h.set('X-Frame-Options', 'DENY');
    h.set('Referrer-Policy', 'no-referrer');
    h.set('Cross-Origin-Opener-Policy', 'same-origin');
    h.set('Cross-Origin-Resource-Policy', 'same-origin');
    if (c.req.path.startsWith('/api/') && !h.has('Cache-Control')) h.set('Cache-Control', 'no-store');
  };
}

export interface RequestGuardCounters {
  foreignHost: number;
  foreignOrigin: number;
}

/** Refuses a foreign `Host` on every request and a foreign `Origin` on state-changing ones. */
export function hostAndOriginCheck(allowed: ReadonlySet<string>, counters: RequestGuardCounters): MiddlewareHandler {
  return async (c, next) => {
    const hostHeader = c.req.header('host') ?? '';
    const host = hostnameOf(hostHeader);
    if (!host || !allowed.has(host)) {
      counters.foreignHost += 1;
      return refuse('foreign-host', `this terminal does not answer to Host "${hostHeader.slice(0, 100)}"`, 421);
    }
    if (!SAFE_METHODS.has(c.req.method)) {
      const origin = c.req.header('origin');
      const site = c.req.header('sec-fetch-site');
      if (origin !== undefined) {
        let sameOrigin = false;
        try {
          const url = new URL(origin);
          sameOrigin =
            (url.protocol === 'http:' || url.protocol === 'https:') &&
            url.host.toLowerCase() === hostHeader.trim().toLowerCase();
        } catch {
          sameOrigin = false;
        }
        if (!sameOrigin) {
          counters.foreignOrigin += 1;
          return refuse('foreign-origin', 'requests from another site are refused', 403);
        }
      } else if (site !== undefined && site !== 'same-origin' && site !== 'none') {
        counters.foreignOrigin += 1;
        return refuse('foreign-origin', 'requests from another site are refused', 403);
      }
    }
    await next();
    return undefined;
  };
}
