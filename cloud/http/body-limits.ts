/**
 * Request body limits for every route (docs/security.md, "Bad input"), applied before routing and
 * before authentication: a small default, larger only for the few routes that carry bulk data.
 *
 * A declared `Content-Length` above the limit is refused with 413 before one byte of the body is
 * read; a chunked body is counted as it streams in and refused as soon as it passes the limit, so
 * an unauthenticated caller can never make the process buffer more than the limit. The 413 answer
 * asks the client to close the connection, so the rest of an oversized body is not drained.
 */
import type { MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { ApiError } from './api-error.ts';

/** Every route without a rule below: logins, JSON commands, patches. */
export const DEFAULT_BODY_LIMIT = 64 * 1024;

/** Routes that take bulk data, by method and exact path. */
/** The resident CSV import. */
export const MAX_IMPORT_BYTES = 20 * 1024 * 1024;

export const LARGE_BODY_LIMITS: readonly { method: string; path: string; maxBytes: number }[] = [
  { method: 'POST', path: '/api/v1/residents/import', maxBytes: MAX_IMPORT_BYTES },
  { method: 'PUT', path: '/api/v1/health', maxBytes: 20 * 1024 * 1024 },
];

function limitFor(method: string, path: string): number {
  const trimmed = path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
  return LARGE_BODY_LIMITS.find((r) => r.method === method && r.path === trimmed)?.maxBytes ?? DEFAULT_BODY_LIMIT;
}

function tooLarge(maxBytes: number): never {
  throw new ApiError(413, 'too-large', `the request body may be at most ${maxBytes} bytes`, undefined, { maxBytes });
}

/** The app-wide middleware (cloud/http/app.ts). */
export function bodyLimits(): MiddlewareHandler {
  const limiters = new Map<number, MiddlewareHandler>();
  const limiterOf = (maxBytes: number) => {
    let limiter = limiters.get(maxBytes);
    if (!limiter) {
      limiter = bodyLimit({ maxSize: maxBytes, onError: () => tooLarge(maxBytes) });
      limiters.set(maxBytes, limiter);
    }
    return limiter;
  };
  return async (c, next) => {
    const maxBytes = limitFor(c.req.method, c.req.path);
    const declared = c.req.header('content-length');
    if (declared !== undefined && !/^\d{1,16}$/.test(declared)) {
      throw new ApiError(400, 'invalid-request', 'malformed Content-Length');
    }
    if (declared !== undefined && Number(declared) > maxBytes) tooLarge(maxBytes);
    return limiterOf(maxBytes)(c, next);
  };
}
